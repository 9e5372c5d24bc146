"""The ``stepprover`` command line. Each command lives in the module of its group;
this file puts them on the application, in the order ``--help`` lists them."""

import typer

from stepprover.cli import check, evaluate, lean, prove, serve, train
from stepprover.cli.prove import problem_from_lean

app = typer.Typer(help="Tool-integrated reasoning for Lean 4 theorem proving.", no_args_is_help=True)
app.command()(check.check)
app.command()(prove.prove)
app.command("eval")(evaluate.eval_)
app.command()(evaluate.report)
app.command()(evaluate.compare)
app.command()(serve.serve)

lean_app = typer.Typer(help="Install and inspect the Lean toolchain, REPL and Mathlib.")
lean_app.command("setup")(lean.lean_setup)
lean_app.command("doctor")(lean.lean_doctor)
lean_app.command("selftest")(lean.lean_selftest)
app.add_typer(lean_app, name="lean")

train_app = typer.Typer(help="SFT and tool-integrated GRPO (needs `pip install '.[train]'`).")
train_app.command("sft")(train.train_sft)
train_app.command("grpo")(train.train_grpo)
train_app.command("cycle")(train.train_cycle)
train_app.command("plot")(train.train_plot)
app.add_typer(train_app, name="train")

__all__ = ["app", "problem_from_lean"]
