"""Staff-side services shared by the console, the JSON API and the command line:
accounts and roles, ticket actions with their citizen notices, export and the audit log.
"""
