from patch_compliance.cli import run

run()
