"""Single-word synonyms for the `word` attack family, chosen so a swap keeps a question's
meaning (inflections listed explicitly: no stemming guesses).

Hand-kept rather than a lexical database: the usual ones (WordNet and its wrappers) need
a corpus downloaded at run time, and their synonym sets mix senses ("bank" -> "depository"
next to "slope"), which a greedy attack would happily pick. The embedding-similarity
threshold of the attack is the second guard.
"""

from __future__ import annotations

_TABLE = """
accurate: correct precise
actually: really truly
allowed: permitted
almost: nearly
also: too additionally
answer: reply
appear: seem look
appears: seems looks
author: writer
authored: wrote
average: typical
bad: harmful
beautiful: lovely pretty
began: started
begin: start
begins: starts
believe: think
best: finest greatest
big: large
biggest: largest
buy: purchase
call: name
called: named
cause: produce
caused: produced
causes: produces
change: alter
changed: altered
choose: pick select
city: town
common: usual frequent
commonly: usually frequently
complete: finish
consider: regard
correct: right accurate
country: nation
create: make
created: made
danger: hazard
dangerous: hazardous risky
die: perish
difference: distinction
different: distinct
difficult: hard
discover: find
discovered: found
easy: simple
eat: consume
eating: consuming
end: finish
enough: sufficient
entire: whole
especially: particularly
every: each
exactly: precisely
example: instance
explain: describe
famous: well-known renowned celebrated
fast: quick rapid
find: locate
frequently: often
get: obtain receive
gets: obtains receives
give: provide
gives: provides
good: fine
happen: occur
happened: occurred
happens: occurs
harm: damage hurt
healthy: wholesome
help: assist
huge: enormous vast
idea: notion
ill: sick
important: significant major
improve: enhance
increase: raise
invented: created devised
job: occupation
kill: slay
know: understand
large: big
largest: biggest
learn: study
legal: lawful
live: reside
lived: resided
lives: resides
located: situated
main: principal chief primary
make: create
makes: creates
means: signifies
method: way
mostly: mainly largely
native: indigenous
near: close
need: require
needs: requires
normal: usual
often: frequently
origin: source
originate: arise begin
originated: arose began
owns: possesses
part: portion section
people: persons folks
perhaps: maybe
possible: feasible
powerful: mighty
precisely: exactly
probably: likely
problem: issue
quickly: rapidly
rare: uncommon
real: genuine actual
really: truly actually
reason: cause
rich: wealthy
road: street
safe: secure
same: identical
say: state
says: states
show: display
shows: displays
sick: ill
similar: alike
small: little
smallest: tiniest
smart: clever intelligent
speak: talk
start: begin
started: began
stop: halt
strong: powerful
study: research
sure: certain
tall: high
tell: inform
think: believe
thinks: believes
tiny: minute
true: accurate correct
try: attempt
type: kind sort
typical: usual
typically: usually normally
ugly: unattractive
understand: comprehend
use: utilise
usual: normal
usually: typically normally
various: diverse
very: extremely
want: wish
wealthy: rich
whole: entire
worked: labored
world: globe
write: compose
wrote: authored
wrong: incorrect
"""


def _parse(table: str) -> dict[str, tuple[str, ...]]:
    """`word: synonym synonym` lines."""
    out: dict[str, tuple[str, ...]] = {}
    for line in table.strip().splitlines():
        word, _, synonyms = line.partition(":")
        out[word.strip()] = tuple(synonyms.split())
    return out


THESAURUS: dict[str, tuple[str, ...]] = _parse(_TABLE)
"""Lower-case word -> synonyms that keep its meaning in a question."""
