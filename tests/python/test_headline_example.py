"""The example `make demo` prints and the README shows must show the model doing what a reader expects: after a new
user prefers a helping statement to a patient one, she is predicted to prefer volunteering to waiting for a bigger
reward, more than the population is. (The old example compared two statements of one behaviour with opposite stance,
a kind of pair Persona-K never trains on: it printed 0.045.) Real MiniLM features, a small Persona-K draw with the
two behaviours the example's texts speak of."""
import numpy as np

import plural

PROMPT = "Which of these two statements would you rather say?"
ANSWER = (PROMPT, "I like to help others", "I am happy to wait years for a bigger reward")
PROBE = ("I volunteer every weekend", "I would rather wait for a bigger reward later")


def test_the_demo_example_moves_her_the_way_her_answer_says(tmp_path):
    behaviors = ["agreeableness", "high-discount-factor", "interest-in-science", "subscribes-to-Buddhism"]
    pk = plural.persona_k(k=3, seed=0, behavior_names=behaviors, statements_per_behavior=150, seen_users=60,
                          unseen_users=4, train_pairs=150)
    signs = np.array(pk.prototypes)[:, :2]  # the example is informative only if the prototypes disagree on it
    assert len({tuple(row) for row in signs}) > 1, signs
    model = plural.Model("pal-b", k=3).fit(pk.data, plural.FeatureStore(str(tmp_path / "cache.h5")), seed=0)
    me = model.adapt([ANSWER], user_id="me")
    population, hers = model.prefer(*PROBE, None, PROMPT), model.prefer(*PROBE, me, PROMPT)
    assert hers > 0.5 and hers > population + 0.05, (population, hers)
    # ... and her own answer is now predicted, more than before it.
    assert model.prefer(*ANSWER[1:], me, PROMPT) > model.prefer(*ANSWER[1:], None, PROMPT)
