"""The Label Studio labeling interface for one answer.

The annotator sees what the model was asked (the original prompt and the variant actually
sent), what it answered, the reference, and what the judges decided, and records two
independent decisions: is the answer stable (consistent with the other variants' answers)
and is it correct; optionally a corrected answer (remediation trains on it) and a
rationale. The control names below are the contract with `client.parse_annotation`.
"""

from __future__ import annotations

STABLE = "stable"  # Choices: stable / unstable
CORRECT = "correct"  # Choices: correct / incorrect
CORRECTED_ANSWER = "corrected_answer"  # TextArea
RATIONALE = "rationale"  # TextArea
TO_NAME = "answer"  # every control annotates the answer

STABLE_YES, STABLE_NO = "stable", "unstable"
CORRECT_YES, CORRECT_NO = "correct", "incorrect"

# Data keys the config reads; every task must carry them all (the server checks on import).
DATA_KEYS = (
    "prompt",
    "variant_prompt",
    "answer",
    "reference",
    "auto_outcome",
    "confidence_text",
    "category",
    "votes_text",
)

LABEL_CONFIG = f"""<View>
  <Header value="Original prompt"/>
  <Text name="prompt" value="$prompt"/>
  <Header value="Variant sent to the model"/>
  <Text name="variant_prompt" value="$variant_prompt"/>
  <Header value="Model answer"/>
  <Text name="{TO_NAME}" value="$answer"/>
  <Header value="Reference"/>
  <Text name="reference" value="$reference"/>
  <Header value="Automatic verdict"/>
  <Text name="auto_outcome" value="$auto_outcome"/>
  <Header value="Confidence"/>
  <Text name="confidence_text" value="$confidence_text"/>
  <Header value="Category"/>
  <Text name="category" value="$category"/>
  <Header value="Judges' votes"/>
  <Text name="votes_text" value="$votes_text"/>
  <Header value="Is the answer stable across variants?"/>
  <Choices name="{STABLE}" toName="{TO_NAME}" choice="single" showInLine="true">
    <Choice value="{STABLE_YES}"/>
    <Choice value="{STABLE_NO}"/>
  </Choices>
  <Header value="Is the answer correct?"/>
  <Choices name="{CORRECT}" toName="{TO_NAME}" choice="single" showInLine="true">
    <Choice value="{CORRECT_YES}"/>
    <Choice value="{CORRECT_NO}"/>
  </Choices>
  <Header value="Corrected answer (optional)"/>
  <TextArea name="{CORRECTED_ANSWER}" toName="{TO_NAME}" maxSubmissions="1" editable="true"
            rows="3"/>
  <Header value="Rationale (optional)"/>
  <TextArea name="{RATIONALE}" toName="{TO_NAME}" maxSubmissions="1" editable="true" rows="2"/>
</View>
"""
