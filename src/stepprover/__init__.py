"""stepprover: tool-integrated reasoning for Lean 4 theorem proving."""

# The one place the version is written: pyproject.toml reads it, a release tags `v0.2.0`.
__version__ = "0.2.0"
