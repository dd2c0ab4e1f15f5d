"""Sharing a recording with a recipient: ``services`` (writes: create, revoke, the ground and
recipient rules, the token's digest), ``transfers`` (where a recipient may receive audio from),
``views`` (the recipient's link, its token kept out of every logged URL).
"""
