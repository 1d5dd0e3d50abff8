"""The text a model is trained on is byte-identical to the text it is served with.

The same example is rendered through every entry point that exists: the renderer itself, a published
bundle, the Beam job's worker path (the prompt travels pickled and is recompiled on the worker) and the
trainer's data path. The evaluation and serving entry points join this test when they are built.
"""

from __future__ import annotations

import pickle

import pytest

from llmops_factory.prompts import load_prompt, publish_repo, render

VARIABLES = [
    {"instruction": "How do I cancel my Nimbus plan? I'm on Premium — billed on the 3rd.", "input": ""},
    {
        "instruction": "Can I get a refund?",
        "input": "User: I paid twice\nAssistant: Sorry about that!\n  ünïcödé…",
    },
]


@pytest.mark.parametrize("ref", ["support_assistant@1.0.0", "support_assistant@1.1.0"])
@pytest.mark.parametrize("variables", VARIABLES, ids=["question", "with-context"])
def test_every_entry_point_renders_identical_bytes(ref, variables, tmp_path):
    from llmops_beam.format import PortablePrompt
    from llmops_trainer.data import Example, render_prompts

    direct = render(load_prompt(ref), variables).text.encode("utf-8")

    root = (tmp_path / "storage").as_uri()
    publish_repo(root)
    bundle = render(load_prompt(ref, root=root), variables).text.encode("utf-8")

    worker_prompt = pickle.loads(pickle.dumps(PortablePrompt(load_prompt(ref, root=root)))).get()
    beam = render(worker_prompt, variables).text.encode("utf-8")

    example = Example(
        instruction=variables["instruction"],
        input=variables["input"],
        output="x",
        example_id="e1",
        group_key="g1",
        split="train",
        source="test:1",
    )
    trainer = render_prompts([example], ref, prompt_root=root)[1][0].encode("utf-8")
    trainer_repo = render_prompts([example], ref)[1][0].encode("utf-8")

    assert direct == bundle == beam == trainer == trainer_repo
    assert direct.endswith(b"### Response:\n")
