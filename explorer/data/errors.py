"""The one exception the data path raises for anything it cannot use."""


class DataError(ValueError):
    """Data that kflayers cannot turn into numeric series.

    The message is a single sentence for a non-programmer: what is wrong with
    the data and what to do about it. It is a `ValueError`, so code that
    already guards against bad values catches it too.
    """
