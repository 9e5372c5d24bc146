"""Lean verification: the REPL protocol, warm process pool, verdicts and toolchain."""

from stepprover.lean.outcome import CommandOutcome, CommandStatus
from stepprover.lean.pool import PoolConfig, PoolHealth, ReplPool, default_worker_count
from stepprover.lean.prefilter import Finding, prefilter
from stepprover.lean.process import ProcessConfig, ReplProcess
from stepprover.lean.protocol import (
    CommandReply,
    CommandRequest,
    ErrorReply,
    Message,
    Reply,
    Request,
    TacticReply,
    TacticRequest,
    parse_reply,
)
from stepprover.lean.source import split_imports
from stepprover.lean.toolchain import LeanSetup, doctor, setup_plan
from stepprover.lean.verify import (
    LeanVerifier,
    Outcome,
    SketchRepl,
    Verdict,
    Verifier,
    VerifyConfig,
)

__all__ = [
    "CommandOutcome",
    "CommandReply",
    "CommandRequest",
    "CommandStatus",
    "ErrorReply",
    "Finding",
    "LeanSetup",
    "LeanVerifier",
    "Message",
    "Outcome",
    "PoolConfig",
    "PoolHealth",
    "ProcessConfig",
    "ReplPool",
    "ReplProcess",
    "Reply",
    "Request",
    "SketchRepl",
    "TacticReply",
    "TacticRequest",
    "Verdict",
    "Verifier",
    "VerifyConfig",
    "default_worker_count",
    "doctor",
    "parse_reply",
    "prefilter",
    "setup_plan",
    "split_imports",
]
