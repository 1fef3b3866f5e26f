"""The AWS CDK app: a root stack and one nested stack per bounded context, composed of constructs,
every one of them driven by the catalog (shared/trading_system/catalog.py). Synthesis needs no AWS
account and no Docker: `make synth`. docs/INFRA.md describes the layout."""

import os

# jsii's Node process prints a screen-wide banner on every start because Node 20 is past its end of
# life. The synth works on Node 20 (this machine's), so the banner only buries real output; moving
# to Node 22+ is the real fix and makes this line moot.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
