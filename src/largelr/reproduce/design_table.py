"""Recorded design power of the shipped reproduce targets (by ``tools/design_table.py``; do not edit).

Key ``"target/preset"``: ``p_min_adj`` (the smallest adjusted p the weakest test can attain), ``tests`` (the Holm
family's size) and ``fingerprint`` (``largelr.reproduce.target_fingerprint`` when it was computed).
"""

TABLE = {
    "architectures/full": {"fingerprint": "d3b84205c2571fd0", "p_min_adj": 3.125e-05, "tests": 27},
    "architectures/quick": {"fingerprint": "d3b84205c2571fd0", "p_min_adj": 1.0, "tests": 27},
    "architectures/standard": {"fingerprint": "d3b84205c2571fd0", "p_min_adj": 0.0026041666666666665, "tests": 18},
    "datasets/full": {"fingerprint": "ac3fb55e1eeafe03", "p_min_adj": 2.777777777777778e-05, "tests": 24},
    "datasets/quick": {"fingerprint": "ac3fb55e1eeafe03", "p_min_adj": 0.003472222222222222, "tests": 24},
    "datasets/standard": {"fingerprint": "ac3fb55e1eeafe03", "p_min_adj": 0.003472222222222222, "tests": 24},
    "headline/full": {"fingerprint": "6c663b9f92922e2b", "p_min_adj": 1.1261043312253107e-22, "tests": 6},
    "headline/quick": {"fingerprint": "6c663b9f92922e2b", "p_min_adj": 6.944444444444445e-06, "tests": 6},
    "headline/standard": {"fingerprint": "6c663b9f92922e2b", "p_min_adj": 5.787037037037037e-08, "tests": 6},
    "knobs/full": {"fingerprint": "c1d1766484756412", "p_min_adj": 0.01697530864197531, "tests": 66},
    "knobs/quick": {"fingerprint": "c1d1766484756412", "p_min_adj": 0.611111111111111, "tests": 66},
    "knobs/standard": {"fingerprint": "c1d1766484756412", "p_min_adj": 0.00954861111111111, "tests": 66},
    "mechanism/full": {"fingerprint": "738504019a1b091f", "p_min_adj": 4.269949202674897e-06, "tests": 17},
    "mechanism/quick": {"fingerprint": "738504019a1b091f", "p_min_adj": 0.0024594907407407404, "tests": 17},
    "mechanism/standard": {"fingerprint": "738504019a1b091f", "p_min_adj": 0.0024594907407407404, "tests": 17},
    "regimes/full": {"fingerprint": "b3ed85f3f1b026d4", "p_min_adj": 7.507362208168738e-23, "tests": 4},
    "regimes/quick": {"fingerprint": "b3ed85f3f1b026d4", "p_min_adj": 1.2204736759489217e-13, "tests": 4},
    "standard/full": {"fingerprint": "65b20d6fb38b6d94", "p_min_adj": 2.2154400945109155e-22, "tests": 8},
    "standard/quick": {"fingerprint": "65b20d6fb38b6d94", "p_min_adj": 0.00205761316872428, "tests": 8},
    "standard/standard": {"fingerprint": "65b20d6fb38b6d94", "p_min_adj": 2.0093878600823047e-06, "tests": 8},
}
