"""PBX simulator: the subset of Asterisk 22 (ARI, AMI, FastAGI) the product uses.

A test and demo tool, never the production path. Start it with ``PbxSimulator`` (Python)
or ``callcenter pbxsim`` (command line).
"""
