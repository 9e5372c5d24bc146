"""stepprover: tool-integrated reasoning for Lean 4 theorem proving."""

__version__ = "0.1.0"
