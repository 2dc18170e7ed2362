"""course_lib: the tested library behind *Chasing Symmetries*.

One module per idea; each module's docstring names the chapter that builds it.
Notebooks import from here rather than redefining what is here.
"""

from course_lib.device import device, seed_everything

__all__ = ["device", "seed_everything"]
__version__ = "0.1.0"
