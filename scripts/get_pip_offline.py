"""Stand-in for the pip bootstrap script that ansible-test downloads (get-pip.py).

ansible-test fetches get-pip.py from the internet for each sanity venv; this machine
only reaches PyPI. This script does the same job offline: ensurepip, then the pip
version ansible-test asked for (``pip==X`` arrives as an argument) from PyPI.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
requested = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
if requested:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", *requested])
