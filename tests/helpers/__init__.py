"""What the tests share besides fixtures (tests/conftest.py): where things are (paths), running
the runner in-process or as a process (invoking), real servers and a browser (servers), and the
texts and direct computations several test modules check against (texts). Test modules import
from here, never from each other.
"""
