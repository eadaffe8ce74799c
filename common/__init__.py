"""What ``autoencoders`` and ``gans`` both need, written once, below both: run folders, checkpoint
files and their checks, argument types, the startup check. Nothing is imported here: import the module
you need.
"""
