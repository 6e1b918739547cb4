"""The kflayers layers, one public layer per module."""
