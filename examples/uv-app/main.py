import sys

print(f"hello from uv-app on Python {sys.version.split()[0]}")
