class ExportRefused(Exception):
    """The export would break a de-identification rule; `reason` says which, in plain words.

    Example reasons: "cohort of 7 patients is below the minimum of 11",
    "differs from export #12 by 2 patients".
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
