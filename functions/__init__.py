"""One module per Lambda function; `catalog.py` is the list of them all.

Importing a function's module is its Lambda init phase. That phase makes tens of thousands of
objects that live as long as the process (modules, classes, models, the app and its routes) and
next to no garbage, yet the cyclic garbage collector walks them over and over as they pile up:
20-60 ms of a cold start, for nothing freed. So it is off from here, the first code a function's
import runs, until the handler is built: `entrypoints/lambda_runtime.instrument` then freezes what
init made (never walked again) and turns it back on (`entrypoints/garbage.py` says how and why).
"""

from trading_system.entrypoints import garbage

garbage.starting()
