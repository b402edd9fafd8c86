"""Honest answers: each case found by trying the page and the API (issue 12), with fakes.

Each test failed before the change it covers: restating passed the check, a causal
claim was "100% grounded" on word overlap, a negation anywhere in the window vouched
for any negated claim, one remark turned an answer into a refusal, failed sentences
stayed in the text, and a change of topic was searched with the old question.
"""

from rag.answer.cite import REFUSAL, check
from rag.answer.decide import FEATURES, Model, Signals, decide
from rag.answer.trust import new_share
from rag.pipeline import RAG
from rag.question import depends_on_conversation, search_query
from rag.types import Passage

from fakes import FakeGenerator

MUSEUM = "The museum opens on weekdays, not on holidays."
HOUTHI = "A Houthi official promised safe passage for Russian and Chinese ships transiting through the Red Sea."


def passage(n: int, text: str) -> Passage:
    return Passage(n, f"c{n}", "a.txt", 0, len(text), text)


def test_an_answer_that_restates_the_question_is_not_supported():
    question = "Which Houthi official promised safe passage for Russian and Chinese ships in the Red Sea?"
    restated = "The Houthi official promised safe passage for Russian and Chinese ships transiting through the Red Sea [1]."
    result = check(restated, [passage(1, HOUTHI)], question=question)
    assert result.refused and result.citations == []
    # The same sentence is supported when it adds what was asked.
    named = "Mohammed al-Bukhaiti promised safe passage for Russian and Chinese ships [1]."
    assert not check(named, [passage(1, "Mohammed al-Bukhaiti promised safe passage for Russian and Chinese ships.")],
                     question=question).refused


def test_a_negated_claim_needs_the_same_words_negated():
    assert check("The museum does not open on weekdays [1].", [passage(1, MUSEUM)]).refused
    assert not check("The museum does not open on holidays [1].", [passage(1, MUSEUM)]).refused
    # ... and a plain claim may not be one the passage negates.
    assert check("The museum opens on holidays [1].", [passage(1, MUSEUM)]).refused
    assert not check("The museum opens on weekdays [1].", [passage(1, MUSEUM)]).refused


def test_a_remark_about_the_passages_does_not_refuse_the_whole_answer():
    text = "Colin Clarke is director of research at the Soufan Group."
    raw = "Colin Clarke is director of research at the Soufan Group [1]. His age is not mentioned in the passages."
    result = check(raw, [passage(1, text)], question="Who is Colin Clarke?")
    assert not result.refused
    assert result.text == "Colin Clarke is director of research at the Soufan Group [1]."
    assert result.removed == ["His age is not mentioned in the passages."]


def test_a_sentence_that_fails_is_removed_whole_and_the_rest_keeps_its_words():
    raw = "Russia supplied drones to the militias in 2023 [1]. Bananas grow on tall purple trees [1]."
    result = check(raw, [passage(1, "Russia supplied drones to the militias in 2023.")])
    assert result.text == "Russia supplied drones to the militias in 2023 [1]."
    assert result.removed == ["Bananas grow on tall purple trees."]
    assert result.grounding == 0.5


CAUSE_SOURCE = ("Russia abstained from a UN Security Council resolution condemning the Huthi attacks. "
                "Moscow has also hosted Huthi representatives.")
CAUSAL_REPLY = "Russia helped the Houthis because it was abstaining from a UN Security Council resolution [1]."


def causal_rag(settings, embedder, yes):
    docs = settings.docs_dir
    for old in docs.iterdir():
        old.unlink()
    (docs / "un.txt").write_text(CAUSE_SOURCE + "\n")
    return RAG(settings, embedder=embedder, generator=FakeGenerator(CAUSAL_REPLY, yes=yes), progress=False)


def test_a_causal_claim_is_not_vouched_for_by_word_overlap(settings, embedder):
    # Every word of the claim is in the passage; the "because" is not. The model says no: refused.
    answer = causal_rag(settings, embedder, yes=0.1).ask("Why would Russia help the Houthis?")
    assert answer.refused and answer.text == REFUSAL
    assert "because" in answer.raw_text


def test_a_causal_claim_the_model_confirms_is_kept_and_says_how(settings, embedder):
    answer = causal_rag(settings, embedder, yes=0.95).ask("Why would Russia help the Houthis?")
    assert not answer.refused
    assert answer.verification == ["words+model"]
    assert answer.confidence is not None and answer.reason.startswith("supported")


def test_without_a_second_look_negated_and_causal_claims_are_not_kept(settings, embedder):
    rag = causal_rag(settings, embedder, yes=0.95)
    rag.settings = rag.settings.model_copy(update={"second_look": False})
    assert rag.ask("Why would Russia help the Houthis?").refused


def test_a_refusal_gets_a_second_chance_with_the_best_passages_named(settings, embedder):
    def reply(messages):
        question = messages[-1]["content"].rsplit("Question:", 1)[1]
        if "most likely to answer" not in question:
            return "The documents do not say."
        n = int(question.split("[", 1)[1].split("]", 1)[0])
        text = messages[-1]["content"].split(f"[{n}] ", 1)[1].split("\n\n")[0]
        return text.split(". ")[0].rstrip(".") + f" [{n}]."

    generator = FakeGenerator(reply)
    answer = RAG(settings, embedder=embedder, generator=generator, progress=False).ask("Who is Colin Clarke?")
    assert len(generator.prompts) == 2 and "most likely to answer" in generator.prompts[1][-1]["content"]
    assert not answer.refused and answer.citations
    assert answer.raw_text != "The documents do not say."  # the second answer is the one checked and shown


def test_the_decision_refuses_below_its_threshold_and_says_why():
    model = Model(features=FEATURES, weights=(3.0, 3.0, 2.0, 1.0), bias=-4.0, threshold=0.5)
    sure = decide(Signals(answerable=0.95, entailment=0.9, new_share=0.6, support=1.0), model)
    doubtful = decide(Signals(answerable=0.05, entailment=0.2, new_share=0.1, support=0.7), model)
    assert sure.answer and sure.probability > 0.5 and sure.reason.startswith("supported")
    assert not doubtful.answer and "weakest signal" in doubtful.reason
    assert decide(Signals(answerable=0.95, entailment=0.9, new_share=0.6, support=1.0), model, threshold=0.9999).answer is False


def test_new_share_counts_only_words_the_question_lacks():
    assert new_share("The capital of France is Paris.", "What is the capital of France?") == 1 / 3
    assert new_share("", "Anything?") == 0.0


def test_a_change_of_topic_is_searched_alone():
    history = [{"role": "user", "content": "Why would Russia help the Houthis?"},
               {"role": "assistant", "content": "It says so [1]."}]
    assert search_query("What is the capital of France?", history) == "What is the capital of France?"
    assert search_query("And who leads them?", history) == "Why would Russia help the Houthis? And who leads them?"
    assert depends_on_conversation("Which other country abstained along with Russia?")
    assert not depends_on_conversation("Who is Colin Clarke?")


def test_a_model_without_a_calibrated_decision_is_decided_by_the_checks(settings, embedder):
    from rag.answer.decide import calibrated_for

    assert calibrated_for("qwen2.5-coder-1.5b") is not None and calibrated_for("qwen2.5-coder-0.5b") is None
    reply = "Colin Clarke is director of policy and research at the Soufan Group [1]."
    other = settings.model_copy(update={"model": "qwen2.5-coder-0.5b"})
    # A doubtful probe refuses on the calibrated model, but is not on the other model's scale.
    low = RAG(other, embedder=embedder, generator=FakeGenerator(reply, yes=0.01), progress=False)
    answer = low.ask("Who is Colin Clarke?")
    assert not answer.refused and "no decision calibrated" in answer.reason
    assert answer.signals["answerable"] == 0.01  # still recorded, for `rag eval calibrate`
    calibrated = RAG(settings, embedder=embedder, generator=FakeGenerator(reply, yes=0.01), progress=False)
    assert calibrated.ask("Who is Colin Clarke?").refused


LIBRARY = [
    "The museum opens on weekdays, not on holidays.",
    "Colin Clarke, director of research at the Soufan Group, spoke about the Kremlin.",
    "The Red Sea is a key trade route.",
    "Weather in Yemen is hot in summer.",
    "Ruslan Suleymanov said the Kremlin wants friends who test the nerves of Moscow's enemies.",
    "Hezbollah is based in Lebanon.",
]
WHO_SAID = "Who said the Kremlin wants friends who test the nerves of Moscow's enemies?"


def verify_in_library(settings, first: str, retry: str, ranked_n: list[int]):
    """Verify `first` as an answer from the whole LIBRARY, retrieval ranking passages `ranked_n` first;
    the model answers a second chance with `retry`."""
    from rag.answer.trust import Verifier

    library = [passage(n, text) for n, text in enumerate(LIBRARY, start=1)]
    ranked = [library[n - 1] for n in ranked_n]
    generator = FakeGenerator(retry, yes=0.9)
    verifier = Verifier(generator, settings, library, WHO_SAID, [], ranked, lambda claim: ranked)
    return verifier.verify(first), generator


def test_a_library_answer_citing_none_of_the_top_passages_gets_a_focused_second_chance(settings):
    # Found on eval q019: the right kind of fact (a speaker) from the wrong passage of the library.
    wrong = "Colin Clarke, director of research at the Soufan Group [2]."
    right = "Ruslan Suleymanov said the Kremlin wants friends who test the nerves of Moscow's enemies [5]."
    verdict, generator = verify_in_library(settings, wrong, right, ranked_n=[5])
    assert verdict.raw.strip() == right and [c.n for c in verdict.checked.citations] == [5]
    # The second chance saw only the top-ranked passage: every other one was hidden from it.
    (hidden,) = generator.hidden
    assert len(hidden) == len(LIBRARY) - 1 and not any("Suleymanov" in text for text in hidden)
    # It was the question itself, as the first answer was asked.
    assert WHO_SAID in generator.prompts[0][-1]["content"]
    assert "most likely to answer" not in generator.prompts[0][-1]["content"]


def test_a_library_answer_citing_a_lesser_top_passage_gets_a_focused_second_chance(settings):
    # Found on eval q023: an outlet from the second-ranked passage, while the first one names the right outlet.
    lesser = "Colin Clarke, director of research at the Soufan Group [2]."
    right = "Ruslan Suleymanov said the Kremlin wants friends who test the nerves of Moscow's enemies [5]."
    verdict, generator = verify_in_library(settings, lesser, right, ranked_n=[5, 2, 3, 4])
    assert verdict.raw.strip() == right and [c.n for c in verdict.checked.citations] == [5]
    # It saw the three best-ranked passages: the fourth-ranked one was hidden with the rest.
    (hidden,) = generator.hidden
    assert len(hidden) == len(LIBRARY) - 3 and any("Weather in Yemen" in text for text in hidden)


def test_a_focused_second_chance_is_kept_only_if_its_passages_hold_more_of_the_question(settings):
    first = "Colin Clarke, director of research at the Soufan Group [2]."
    verdict, generator = verify_in_library(settings, first, "Weather in Yemen is hot in summer [4].", ranked_n=[4, 5])
    assert verdict.raw == first and len(generator.prompts) == 1  # asked, and not taken
    # Not asked when the top passages hold no more of the question's words than the cited one.
    verdict, generator = verify_in_library(settings, first, "unused", ranked_n=[4])
    assert verdict.raw == first and generator.prompts == []
    # An answer that cites a top-ranked passage is not asked again.
    on_ranking = "Ruslan Suleymanov said the Kremlin wants friends who test the nerves of Moscow's enemies [5]."
    verdict, generator = verify_in_library(settings, on_ranking, "unused", ranked_n=[5])
    assert verdict.raw == on_ranking and generator.prompts == []


def test_a_second_chance_citing_a_lesser_passage_is_focused_too(settings):
    # Found on eval q007: after a refusal, the second chance (whole library) restated the question
    # from a lesser passage; the passage retrieval ranks first names the leader.
    from rag.answer.trust import Verifier

    library = [passage(n, text) for n, text in enumerate(LIBRARY, start=1)]
    lesser = "Colin Clarke, director of research at the Soufan Group [2]."
    right = "Ruslan Suleymanov said the Kremlin wants friends who test the nerves of Moscow's enemies [5]."
    generator = FakeGenerator()
    generator.reply = lambda messages: right if generator.hidden[-1] else lesser
    ranked = [library[4], library[1]]
    verdict = Verifier(generator, settings, library, WHO_SAID, [], ranked, lambda claim: ranked).verify(REFUSAL)
    assert verdict.raw.strip() == right and [c.n for c in verdict.checked.citations] == [5]
    assert "most likely to answer" in generator.prompts[0][-1]["content"] and generator.hidden[0] == []
    assert len(generator.prompts) == 2 and len(generator.hidden[1]) == len(LIBRARY) - 2


def refused_twice(settings, question: str, focused_reply: str, ranked_n: list[int]):
    """Verify a refusal from the whole LIBRARY whose second chance refuses too; with all but the
    best-ranked passages hidden the model answers `focused_reply`."""
    from rag.answer.trust import Verifier

    library = [passage(n, text) for n, text in enumerate(LIBRARY, start=1)]
    generator = FakeGenerator(yes=0.9)
    generator.reply = lambda messages: focused_reply if generator.hidden[-1] else REFUSAL
    ranked = [library[n - 1] for n in ranked_n]
    verdict = Verifier(generator, settings, library, question, [], ranked, lambda claim: ranked).verify(REFUSAL)
    return verdict, generator


def test_a_refusal_refused_again_gets_a_focused_chance(settings):
    # Found on the seeds: the model refused twice with the whole library in front of it, and
    # answered right when it saw only the passages retrieval ranks first.
    right = "Ruslan Suleymanov said the Kremlin wants friends who test the nerves of Moscow's enemies [5]."
    verdict, generator = refused_twice(settings, WHO_SAID, right, ranked_n=[5, 2])
    assert not verdict.checked.refused and verdict.raw.strip() == right
    assert [bool(hidden) for hidden in generator.hidden] == [False, True]  # second chance, then focused
    assert len(generator.hidden[1]) == len(LIBRARY) - 2
    assert WHO_SAID in generator.prompts[1][-1]["content"]


def test_a_focused_chance_after_refusals_must_hold_the_names_the_question_gives(settings):
    # Found on eval q118: "Which Fatah official attended ...?" answered "A Houthi official attended ..."
    # from the one passage about the conference; the documents never name a Fatah official.
    question = "Which Hezbollah official said the Kremlin wants friends who test the nerves of Moscow's enemies?"
    other_one = "Ruslan Suleymanov said the Kremlin wants friends who test the nerves of Moscow's enemies [5]."
    verdict, generator = refused_twice(settings, question, other_one, ranked_n=[5, 6])
    assert verdict.checked.refused and len(generator.prompts) == 2  # asked, and not taken
    # The same answer is taken for a question whose names the cited passage holds.
    verdict, _ = refused_twice(settings, "Which expert said the Kremlin wants friends who test the nerves of "
                                         "Moscow's enemies?", other_one, ranked_n=[5, 6])
    assert not verdict.checked.refused


def test_of_two_answers_the_one_whose_passages_hold_more_of_the_question_is_kept(settings):
    from rag.answer.cross_check import cross_checked
    from rag.answer.trust import Verifier

    library = [passage(n, text) for n, text in enumerate(LIBRARY, start=1)]
    wrong = "Colin Clarke, director of research at the Soufan Group [2]."
    right = "Ruslan Suleymanov said the Kremlin wants friends who test the nerves of Moscow's enemies [5]."
    first, _ = verify_in_library(settings, wrong, "unused", ranked_n=[2])
    fresh_passages = [library[4], library[1]]

    def fresh_verdict(raw):
        return Verifier(FakeGenerator(yes=0.9), settings, fresh_passages, WHO_SAID, [], fresh_passages,
                        lambda claim: fresh_passages).verify(raw)

    coverage = Verifier(FakeGenerator(), settings, library, WHO_SAID, [], [], lambda claim: []).coverage
    kept = cross_checked(first, fresh_verdict(right), coverage)
    assert kept.raw == right and "more of the question's words" in kept.decision.reason
    # On a tie the library's answer stays; a refusal of the library's is not undone.
    assert cross_checked(first, fresh_verdict(wrong), coverage) is first
    refused, _ = verify_in_library(settings, REFUSAL, REFUSAL, ranked_n=[2])
    assert cross_checked(refused, fresh_verdict(right), coverage) is refused
