from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class RegistryJSONParser(JSONParser):
    """JSON parser that answers absurdly nested input with a 400, not a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
