"""
The offline HTML preview: messages shown as Discord's dark theme shows them.
"""
