"""Reading what users hand the package: bounded YAML files, flag checks, client allowlists."""
