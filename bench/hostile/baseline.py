"""Baseline: one honest call alone; its round trips are what the attacks are compared with."""
import asyncio
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import _stack

with _stack.stack() as (port, log, _):
    print(asyncio.run(_stack.honest_call(port, 5.0)))
    print("\n".join(_stack.log_lines(log)[-3:]))
