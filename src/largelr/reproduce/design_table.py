"""Recorded design power of the shipped reproduce targets (by ``tools/design_table.py``; do not edit).

Key ``"target/preset"``: ``p_min_adj`` (the smallest adjusted p the weakest test can attain), ``tests`` (the Holm
family's size) and ``file_sha256`` (``largelr.reproduce.target_fingerprint`` of the file it was computed from).
"""

TABLE = {
    "architectures/full": {"file_sha256": "a800ca1aed32a16b", "p_min_adj": 3.125e-05, "tests": 27},
    "architectures/quick": {"file_sha256": "a800ca1aed32a16b", "p_min_adj": 1.0, "tests": 27},
    "architectures/standard": {"file_sha256": "a800ca1aed32a16b", "p_min_adj": 0.0026041666666666665, "tests": 18},
    "datasets/full": {"file_sha256": "051f60b2e7ebeaa0", "p_min_adj": 2.777777777777778e-05, "tests": 24},
    "datasets/quick": {"file_sha256": "051f60b2e7ebeaa0", "p_min_adj": 0.003472222222222222, "tests": 24},
    "datasets/standard": {"file_sha256": "051f60b2e7ebeaa0", "p_min_adj": 0.003472222222222222, "tests": 24},
    "headline/full": {"file_sha256": "b5e660053ecb562c", "p_min_adj": 1.1261043312253107e-22, "tests": 6},
    "headline/quick": {"file_sha256": "b5e660053ecb562c", "p_min_adj": 6.944444444444445e-06, "tests": 6},
    "headline/standard": {"file_sha256": "b5e660053ecb562c", "p_min_adj": 5.787037037037037e-08, "tests": 6},
    "knobs/full": {"file_sha256": "231c9903d6d04418", "p_min_adj": 0.01697530864197531, "tests": 66},
    "knobs/quick": {"file_sha256": "231c9903d6d04418", "p_min_adj": 0.611111111111111, "tests": 66},
    "knobs/standard": {"file_sha256": "231c9903d6d04418", "p_min_adj": 0.00954861111111111, "tests": 66},
    "mechanism/full": {"file_sha256": "9b969b2bc31fc0ba", "p_min_adj": 4.269949202674897e-06, "tests": 17},
    "mechanism/quick": {"file_sha256": "9b969b2bc31fc0ba", "p_min_adj": 0.0024594907407407404, "tests": 17},
    "mechanism/standard": {"file_sha256": "9b969b2bc31fc0ba", "p_min_adj": 0.0024594907407407404, "tests": 17},
    "regimes/full": {"file_sha256": "1f7e62084eb7a64f", "p_min_adj": 7.507362208168738e-23, "tests": 4},
    "regimes/quick": {"file_sha256": "1f7e62084eb7a64f", "p_min_adj": 1.2204736759489217e-13, "tests": 4},
    "standard/full": {"file_sha256": "5e7af9e3d791e1cf", "p_min_adj": 2.2154400945109155e-22, "tests": 8},
    "standard/quick": {"file_sha256": "5e7af9e3d791e1cf", "p_min_adj": 0.00205761316872428, "tests": 8},
    "standard/standard": {"file_sha256": "5e7af9e3d791e1cf", "p_min_adj": 2.0093878600823047e-06, "tests": 8},
}
