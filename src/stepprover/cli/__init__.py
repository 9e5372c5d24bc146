"""The ``stepprover`` command line. Each command lives in the module of its group;
this file puts them on the application, in the order ``--help`` lists them."""

import logging
import sys


def _not_the_no_torch_advice(record: logging.LogRecord) -> bool:
    # transformers says at import, without PyTorch, that "Models won't be available": the base
    # install runs served and scripted models, and names PyTorch itself where a run needs it
    return not str(record.msg).startswith("PyTorch was not found.")


logging.getLogger("transformers").addFilter(_not_the_no_torch_advice)

try:
    import typer
    from rich.markup import escape

    from stepprover.cli import check, evaluate, lean, prove, serve, train
    from stepprover.cli.command import Command, Group
    from stepprover.cli.common import STYLES_EPILOG
    from stepprover.cli.prove import problem_from_lean
except KeyboardInterrupt:  # Ctrl-C while the modules load (seconds, with torch): no traceback
    sys.stderr.write("interrupted\n")
    raise SystemExit(130) from None

app = typer.Typer(
    help="Tool-integrated reasoning for Lean 4 theorem proving.", no_args_is_help=True, cls=Group
)
app.command(cls=Command)(check.check)
app.command(cls=Command, epilog=STYLES_EPILOG)(prove.prove)
app.command("eval", cls=Command, epilog=STYLES_EPILOG)(evaluate.eval_)
app.command(cls=Command)(evaluate.report)
app.command(cls=Command)(evaluate.compare)
app.command(cls=Command, epilog=serve.settings_epilog())(serve.serve)

lean_app = typer.Typer(help="Install and inspect the Lean toolchain, REPL and Mathlib.", cls=Group)
lean_app.command("setup", cls=Command)(lean.lean_setup)
lean_app.command("doctor", cls=Command)(lean.lean_doctor)
lean_app.command("selftest", cls=Command)(lean.lean_selftest)
app.add_typer(lean_app, name="lean")

# Help texts are Rich markup: "[train]" would vanish as a tag unless escaped.
train_app = typer.Typer(
    help=escape("SFT and tool-integrated GRPO (needs `pip install '.[train]'`)."), cls=Group
)
train_app.command("sft", cls=Command)(train.train_sft)
train_app.command("grpo", cls=Command)(train.train_grpo)
train_app.command("cycle", cls=Command)(train.train_cycle)
train_app.command("plot", cls=Command)(train.train_plot)
app.add_typer(train_app, name="train")

__all__ = ["app", "problem_from_lean"]
