from stepprover.cli import app

app()
