from rag.answer.cite import REFUSAL, check, split_answer
from rag.types import Passage

SOURCE = (
    "Intro line.\n"
    "Colin Clarke is director of policy and research at the Soufan Group. "
    "The Soufan Group is based in New York.\n"
    "Russia supplied drones to the militias in 2023."
)


def passage(n: int, text: str, source: str = "a.txt") -> Passage:
    start = SOURCE.index(text)
    return Passage(n, f"c{n}", source, start, start + len(text), text)


P1 = passage(1, "Colin Clarke is director of policy and research at the Soufan Group. The Soufan Group is based in New York.")
P2 = passage(2, "Russia supplied drones to the militias in 2023.")


def assert_quotes_exact(result):
    for c in result.citations:
        assert SOURCE[c.start : c.end] == c.quote


def test_verbatim_claim_keeps_exact_span():
    result = check("Colin Clarke is director of policy and research at the Soufan Group [1].", [P1, P2])
    assert not result.refused
    assert [c.n for c in result.citations] == [1]
    assert result.citations[0].quote == "Colin Clarke is director of policy and research at the Soufan Group"
    assert result.grounding == 1.0
    assert_quotes_exact(result)


def test_paraphrase_supported_by_a_passage_sentence_is_kept():
    result = check("Clarke directs research at the Soufan Group [1].", [P1, P2])
    assert [c.n for c in result.citations] == [1]
    assert "Soufan Group" in result.citations[0].quote
    assert_quotes_exact(result)


def test_citation_of_a_passage_not_retrieved_is_dropped():
    result = check("Russia supplied drones in 2023 [7].", [P1, P2])
    assert 7 not in [c.n for c in result.citations]


def test_citation_to_a_passage_that_does_not_support_the_claim_is_dropped():
    result = check("Paris is the capital of France [1].", [P1, P2])
    assert result.refused and result.text == REFUSAL and result.citations == []


def test_grounding_is_the_share_of_supported_sentences():
    result = check("Russia supplied drones to the militias [2]. Bananas grow on tall purple trees [1].", [P1, P2])
    assert [c.n for c in result.citations] == [2]
    assert result.grounding == 0.5
    assert "[1]" not in result.text and "[2]" in result.text


def test_model_refusal_becomes_the_plain_refusal():
    result = check("The passages do not mention the capital of France.", [P1, P2])
    assert result.refused and result.text == REFUSAL


def test_uncited_sentence_clearly_in_a_passage_gets_a_checked_citation():
    result = check("Russia supplied drones to the militias in 2023.", [P1, P2])
    assert [c.n for c in result.citations] == [2]
    assert result.text.endswith("[2].")


def test_markers_after_the_period_belong_to_the_sentence_before():
    sentences = split_answer("Clarke is at Soufan. [1] Drones came in 2023 [2][1].")
    assert [(s.claim, s.cited) for s in sentences] == [("Clarke is at Soufan.", [1]), ("Drones came in 2023.", [2, 1])]


def test_empty_answer_is_a_refusal():
    assert check("", [P1]).refused


def test_restating_the_question_earns_no_support():
    # Every word but "paris" comes from the question; "paris" is nowhere in the passages.
    result = check("The capital of France is Paris [1].", [P1, P2], question="What is the capital of France?")
    assert result.refused


def test_a_question_word_in_another_form_is_no_answer():
    # The shape of eval q007 ("Russia and Hezbollah helped stay in power in Syria." for "Which
    # Syrian leader ...?"), on a made-up passage: "Peru" only says "Peruvian" again.
    text = "With help from the navy, Mayor Ana Quispe kept the port of Callao open in Peru."
    passages = [Passage(1, "c1", "port.txt", 0, len(text), text)]
    question = "Which Peruvian mayor kept the port open with help from the navy?"
    assert check("The navy helped keep the port open in Peru [1].", passages, question=question).refused
    named = check("Mayor Ana Quispe kept the port open with help from the navy [1].", passages, question=question)
    assert not named.refused and named.citations[0].n == 1


def test_a_quoted_term_or_code_the_question_lacks_is_an_answer():
    # Real uncited answers from eval/corpora/legal-md that the restating rule removed (l005, l010).
    lgpl = ('A "Combined Work" is a work produced by combining or linking an Application with the Library.')
    pip = "pip bundles the CA certificate store of the `certifi` package."
    passages = [Passage(1, "c1", "lgpl.txt", 0, len(lgpl), lgpl), Passage(2, "c2", "pip.md", 0, len(pip), pip)]
    question = "What does the LGPL call a work produced by combining or linking an Application with the Library?"
    named = check('The LGPL calls a work produced by combining or linking an Application with the Library a '
                  '"Combined Work".', passages, question=question)
    assert not named.refused and named.citations[0].n == 1
    code = check("The `certifi` package provides the CA certificate store that pip bundles.", passages,
                 question="Which package provides the CA certificate store that pip bundles?")
    assert not code.refused and code.citations[0].n == 2
    # A code word is taken literally, never as another form of a question word ("certificate"):
    # the passage must hold it, not the question's words (l010 was refused that way).
    short = "pip uses the `certifi` package for this."
    terse = [Passage(1, "c1", "pip.md", 0, len(short), short)]
    literal = check("The `certifi` package provides the CA certificate store that pip bundles [1].", terse,
                    question="Which package provides the CA certificate store that pip bundles?")
    assert not literal.refused and literal.citations[0].quote == short
    # The question's own quoted term is no answer.
    echoed = check('A work produced by combining an Application with the Library is a "Combined Work".', passages,
                   question='What is a "Combined Work" produced by combining an Application with the Library?')
    assert echoed.refused


def test_new_information_is_what_must_be_in_the_passage():
    # Framing words from the question ("according to the article", "Clarke") don't need to be in the passage.
    question = "Where is the group Colin Clarke works for based, according to the article?"
    result = check("According to the article, the group Colin Clarke works for is based in New York [1].", [P1, P2], question=question)
    assert [c.n for c in result.citations] == [1]
    assert "New York" in result.citations[0].quote
    wrong = check("According to the article, the group Colin Clarke works for is based in Moscow [1].", [P1, P2], question=question)
    assert wrong.refused


def test_an_abbreviation_inside_a_sentence_keeps_the_model_s_words_and_one_marker_at_the_end():
    # Issue 17: "v. 2.0" was split, and the answer came back as "... License, v [1]. 2.0, is ...".
    sentence = "The Mozilla Public License, v. 2.0, is stewarded by the Mozilla Foundation."
    p = Passage(1, "c1", "mpl.txt", 0, len(sentence), sentence)
    result = check("The Mozilla Public License, v. 2.0, is stewarded by the Mozilla Foundation [1].", [p])
    assert result.text == "The Mozilla Public License, v. 2.0, is stewarded by the Mozilla Foundation [1]."
    assert [c.quote for c in result.citations] == [sentence.rstrip(".")]


def test_the_readme_states_the_support_an_uncited_sentence_needs():
    from pathlib import Path

    from rag.answer.cite import UNCITED_BONUS
    from rag.settings import Settings

    needed = min(1.0, Settings().support_threshold + UNCITED_BONUS)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"most like it, at {needed:.0%}." in readme and f"{needed:.1f} for a sentence the model did not cite" in readme
