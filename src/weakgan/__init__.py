"""weakgan: weakly supervised image classification with noise regularization and a semi-supervised GAN."""

__version__ = "0.1.0"


class WeakganError(Exception):
    """A user-facing error: the CLI prints its one-line message and exits with status 2."""
