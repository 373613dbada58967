import gc
import sys

from envstack.cli import main

status = main()
# Everything the command built goes with the process: without this the interpreter's exit has the
# cyclic collector walk all of it once more (several hundredths of a CPU second a command, and the
# engine runs `migrate` and `seed` as commands on every up that applies migrations).
gc.freeze()
sys.exit(status)
