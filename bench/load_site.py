"""bench/bench_load.py's server settings: the console's own, with bench/load_urls.py as the URLconf (the
console's URLs plus one minimal login-protected view, the baseline the real pages are compared with)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.load_urls"
