"""
The offline HTML preview: messages shown as Discord's dark theme does.

:mod:`.transcript` keeps what a preview or the demo showed, a board once;
:mod:`.markdown` turns Discord's markdown into HTML; :mod:`.message`
draws one message and its embed; :mod:`.page` lays out the server
(its categories and channels) around them, in one self-contained file.
"""
