"""rotrace: which paths does this command write, and may it?"""

__version__ = "0.1.0"
