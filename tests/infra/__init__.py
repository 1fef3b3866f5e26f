"""CDK assertion tests over the synthesised stack (fixtures in conftest.py)."""

# Imported first, before any test module imports aws_cdk and jsii starts its Node process: infra's
# __init__ silences the Node end-of-life banner that would otherwise flood the test output.
import infra  # noqa: F401
