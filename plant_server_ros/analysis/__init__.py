"""After the run: metrics, export, report."""
