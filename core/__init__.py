"""Values every room of the house shares: the mail as AceDesk reads it and the settings.

Nothing here imports another AceDesk package, so model/, integrations/, support/, training/
and the UI can all import it without an arrow between them.
"""
