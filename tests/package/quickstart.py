"""The README's Python quickstart, smaller, in a pip-installed plural (tests/package/pip_install.sh)."""
import os
import sys

import plural

package = sys.argv[1]
assert plural._build_info.INSTALLED and plural.__file__.startswith(package), plural.__file__
assert os.environ["PLURAL_MODELS"].startswith(package), "the encoder weights should ship in the package"
assert plural.server.find_cli().startswith(package)

pk = plural.persona_k(k=3, seen_users=30, unseen_users=10)
store = plural.FeatureStore("cache.h5", encoder="minilm")
model = plural.Model("pal-b", k=3).fit(pk.data, store)
grid = model.evaluate(pk.data, shots=[0, 5])
seen = next(c for c in grid if c["users"] == "seen")
assert seen["accuracy"] > 0.7, grid
q = "Which of these two statements would you rather say?"
me = model.adapt([(q, "I like to help others", "I am happy to wait years for a bigger reward")])
p = model.prefer("I volunteer every weekend", "I would rather wait for a bigger reward later", me, q)
assert 0.0 < p < 1.0
print(f"quickstart in the installed package: seen accuracy {seen['accuracy']:.3f}, P = {p:.2f}")
