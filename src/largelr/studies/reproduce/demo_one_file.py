"""A throwaway reproduce target (shows that adding one is one file): claim 1 on the tiny base."""

from largelr.report.verdicts import Claim, rises_with
from largelr.reproduce import desirable, tiny_base
from largelr.sweep import grid

NAME = "demo_one_file"
CLAIMS = ("1",)
COST = {"quick": "4 runs, ~1 min"}


def sweep(preset="quick"):
    return grid(tiny_base(), {"optim.lr": [0.01, 0.1], "seeds.init": [0, 1]})


def claims(df):
    return [Claim("1", "demo", rises_with("cfg.optim.lr", ("test/acc_bc",), desirable()))]
