#!/usr/bin/env bash
# bench_report.sh — scripts/bench --report on tiny synthetic Google Benchmark
# JSON files (ctest scripts.bench_report): the digests' latencies (each
# waiting on the last) beside their throughput, SPEC §4's verdicts from the
# medians (1.5x bare SHA-256 up to 10,000 keys; 1.5x + one chase above,
# against the cheaper chase); for a run made in rounds only, the rows round
# by round: up to 10,000 keys each over its round's SHA-256, the 1M/10M
# rows each against its round's own SHA-256 and chase (a round whose chase
# was no access left out when under it, the verdicts over the other rounds,
# and no meet from such a chase); the aggregates scripts/bench adds to such
# a run; the decisions over the slices the core was theirs (the watch's
# counters); kg_head_parse against picohttpparser, side by side; and an
# unreadable file (exit 2).
. "$(dirname "$0")/common.bash"
cmd=("$py" "$src/scripts/bench")

# report NAME: --report of $tmp/NAME.json into $tmp/NAME.out (shown), which
# must exit 0.
report() {
  run "$1" --report "$tmp/$1.json"
  cat "$tmp/$1.out"
  [ "$rc" -eq 0 ] || fail "--report of $1 exited $rc"
}

# The bare SHA-256 is 50 ns in every round: 1.5x is 75 ns. The huge-page
# chase (200 ns a round) is cheaper than the 4 KiB one (400), so it is the
# yardstick: 1.5x + chase = 275 ns.
# - api_bearer at 50 keys: 70 ns (1.40x, meets); at 10,000: 80 (1.60x,
#   MISSES).
# - api_bearer at 10,000,000 keys: rounds 255, 265, 270, 290, 300 ns, the
#   median 270 (meets: excess 195 ns = 0.97 chase); round by round 0.90,
#   0.95, 0.97, 1.07, 1.12: under one chase in 3 of 5.
# - browser_xkey at 10,000,000: median 300 (MISSES, 1.12 chase).
rows=(openssl/sha256_bare=50,50,50,50,50
  openssl/sha256_bare_chained=51,51,51,51,51
  digest/sha256=25,25,25,25,25
  digest/sha256_chained=45,45,45,45,45
  context/pointer_chase/MiB:1024=400,400,400,400,400
  context/pointer_chase_hugepages/MiB:1024=200,200,200,200,200
  context/digest_chase_hugepages/MiB:360=255,265,270,290,300
  index/lookup_hit/keys:10000000=200,200,200,200,200
  decide/api_bearer/valid/keys:50=70,70,70,70,70
  decide/api_bearer/valid/keys:10000=80,80,80,80,80
  decide/api_xkey/valid/keys:1=70,80,70,80,70
  decide/api_bearer/valid/keys:10000000=255,265,270,290,300
  decide/browser_xkey/valid/keys:10000000=300,300,300,300,300)
gen "$tmp/inter.json" '{"interleaved": true, "rounds": 5}' "${rows[@]}"
gen "$tmp/b2b.json" '{"interleaved": false}' "${rows[@]}"
gen "$tmp/old.json" '{}' "${rows[@]}"
gen "$tmp/str.json" '{"interleaved": "true", "rounds": "5"}' "${rows[@]}"
# Interleaved before the rounds: one shuffle of every repetition, so a
# benchmark's r-th repetition and another's can be the whole run apart.
gen "$tmp/shuffle.json" '{"interleaved": true}' "${rows[@]}"

# Each round paired with its own SHA-256 and chase: the rounds' values move
# together (a round with a slow machine is slow on all three), so the
# medians would say 1.00 chase and every round says 0.50. The 4 KiB chase
# is the cheaper one here, so it is the rounds' yardstick too; a round
# whose chase is 0 (a damaged file) is left out, not divided by.
gen "$tmp/pair.json" '{"interleaved": true, "rounds": 4}' \
  openssl/sha256_bare=40,60,80,100 \
  context/pointer_chase/MiB:1024=100,200,300,0 \
  context/pointer_chase_hugepages/MiB:1024=900,900,900,900 \
  decide/api_xkey/valid/keys:1000000=110,190,270,350

# 1. The medians' verdicts.
report inter
grep -q "the 1M/10M rows use the cheaper: 200.0 ns" "$tmp/inter.out" ||
  fail "the cheaper chase is not the yardstick"
grep -Eq '^  api_bearer +50 +70\.0 ns +1\.40x +<= 1\.5x +meets' "$tmp/inter.out" ||
  fail "api_bearer at 50 keys is not 1.40x, meets"
grep -Eq '^  api_bearer +10,000 +80\.0 ns +1\.60x +<= 1\.5x +MISSES' "$tmp/inter.out" ||
  fail "api_bearer at 10,000 keys is not 1.60x, MISSES"
grep -Eq '^  api_bearer +10,000,000 +270\.0 ns .*1\.5x \+ chase = 275 ns +meets \(excess 0\.97 chase\)' \
  "$tmp/inter.out" || fail "api_bearer at 10,000,000 keys does not meet at 0.97 chase"
grep -Eq '^  browser_xkey +10,000,000 +300\.0 ns .*MISSES \(excess 1\.12 chase\)' \
  "$tmp/inter.out" || fail "browser_xkey at 10,000,000 keys does not miss at 1.12 chase"

# The digest then one access of the table's size: median 270 ns, less the
# digest's 45 ns latency 225 ns, 1.12x the lookup at 10,000,000 keys (200).
# The 10,000,000-key rows over it, round by round: api_bearer's rounds are
# the digest chase's own (1.00 each); browser_xkey's 300 over 255-300 is
# 1.18, 1.13, 1.11, 1.03, 1.00: median 1.11. Context only: the verdicts
# above stay the chase's.
grep -Eq "^  kg_digest then one access, 360 MiB \(the 10M table's size\), each waiting on the last: +270\.0 ns$" \
  "$tmp/inter.out" || fail "the digest chase is not reported"
grep -Eq '^    less the digest.s latency: +225\.0 ns \(1\.12x the lookup at 10,000,000 keys; context, not the yardstick\)$' \
  "$tmp/inter.out" || fail "the digest chase less the digest's latency is not 225 ns, 1.12x the lookup"
grep -Eq '^  \(context, no target; by round, median \(range\) over 5 rounds\):$' "$tmp/inter.out" ||
  fail "the digest chase rows do not say they are by round over 5 rounds"
grep -Eq '^    api_bearer 1\.00x \(1\.00-1\.00\)   browser_xkey 1\.11x \(1\.00-1\.18\)$' "$tmp/inter.out" ||
  fail "the 10,000,000-key rows over the digest chase are not 1.00x and 1.11x (1.00-1.18)"
# Back to back (no rounds): the medians' ratio, 270 / 270 and 300 / 270.
report b2b
grep -Eq '^  \(context, no target; medians\):$' "$tmp/b2b.out" ||
  fail "b2b: the digest chase rows do not say they are medians"
grep -Eq '^    api_bearer 1\.00x   browser_xkey 1\.11x$' "$tmp/b2b.out" ||
  fail "b2b: the 10,000,000-key rows over the digest chase are not 1.00x and 1.11x"

# Rounds whose chase was no access (0-2: 3000 ns against a fastest lookup
# of 200) are left out of the digest chase's rows; so is a round whose
# digest chase alone was (round 3); the rows are over round 4 only. A
# digest chase under the digest's latency prints no "less" line.
gen "$tmp/dcwild.json" '{"interleaved": true, "rounds": 5}' \
  openssl/sha256_bare=50,50,50,50,50 \
  digest/sha256_chained=45,45,45,45,45 \
  context/pointer_chase_hugepages/MiB:1024=3000,3000,3000,200,200 \
  context/digest_chase_hugepages/MiB:360=3000,3000,3000,3000,250 \
  index/lookup_hit/keys:10000000=200,200,200,200,200 \
  decide/api_bearer/valid/keys:10000000=300,300,300,300,300
report dcwild
grep -Eq '^  \(context, no target; by round, median \(range\) over 1 rounds\):$' "$tmp/dcwild.out" ||
  fail "dcwild: the wild rounds are not left out of the digest chase's rows"
grep -Eq '^    api_bearer 1\.20x \(1\.20-1\.20\)$' "$tmp/dcwild.out" ||
  fail "dcwild: api_bearer over the one kept round is not 1.20x"
grep -Eq "^  kg_digest then one access, 360 MiB \(the 10M table's size\), each waiting on the last: +250\.0 ns$" \
  "$tmp/dcwild.out" || fail "dcwild: the digest chase is not its kept round's 250 ns"
gen "$tmp/dclow.json" '{"interleaved": false}' \
  digest/sha256_chained=45,45,45 \
  context/digest_chase_hugepages/MiB:360=40,40,40 \
  index/lookup_hit/keys:10000000=200,200,200
report dclow
if grep -q "less the digest" "$tmp/dclow.out"; then
  fail "dclow: a digest chase under the digest's latency printed a difference"
fi

# The digests' latencies beside their throughput (each waiting on the last).
grep -Eq '^  kg_digest \(SHA-256\): +25\.0 ns +\(0\.50x bare\)$' "$tmp/inter.out" ||
  fail "kg_digest's throughput is not 0.50x bare"
grep -Eq '^  kg_digest, each waiting on the last: +45\.0 ns +\(0\.90x bare: its latency\)$' \
  "$tmp/inter.out" || fail "kg_digest's latency is not 0.90x bare"
grep -Eq '^  bare SHA-256, each waiting on the last: +51\.0 ns +\(1\.02x bare\)$' \
  "$tmp/inter.out" || fail "the bare SHA-256's latency is not 1.02x bare"

# 2. Made in rounds: each round's own excess, and how many are under one
# chase; the median verdict meets, the rounds say it is on the line.
grep -q "round by round (5 rounds" "$tmp/inter.out" || fail "no round-by-round view of a run made in rounds"
grep -Eq '^  api_bearer +10,000,000 +0\.90 +0\.95 +0\.97 +1\.07 +1\.12 +3 of 5$' \
  "$tmp/inter.out" || fail "api_bearer's rounds are not 0.90 0.95 0.97 1.07 1.12, 3 of 5"
grep -Eq '^  browser_xkey +10,000,000 +1\.12 +1\.12 +1\.12 +1\.12 +1\.12 +0 of 5$' \
  "$tmp/inter.out" || fail "browser_xkey's rounds are not 1.12 x5, 0 of 5"
sed -n '/the 1M\/10M rows round by round/,$p' "$tmp/inter.out" >"$tmp/inter.big"
if grep -Eq '^  api_bearer +10,000 ' "$tmp/inter.big"; then
  fail "a row of up to 10,000 keys in the 1M/10M rows' round-by-round view"
fi

# 2b. The rows up to 10,000 keys round by round: each round's decision over
# its own SHA-256, and in how many rounds within 1.5x (at 1.5x exactly is
# within, as the verdict has it). api_xkey at one key: 70, 80, 70, 80, 70
# against 50: median 70 meets, two rounds of five do not.
sed -n '/the rows up to 10,000 keys round by round/,/^$/p' "$tmp/inter.out" >"$tmp/inter.small"
grep -q "the rows up to 10,000 keys round by round (5 rounds)" "$tmp/inter.small" ||
  fail "no round-by-round view of the rows up to 10,000 keys"
grep -Eq '^  api_xkey +1 +70\.0 ns +1\.40x +<= 1\.5x +meets' "$tmp/inter.out" ||
  fail "api_xkey at one key is not 1.40x, meets (the median)"
grep -Eq '^  api_xkey +1 +1\.40 +1\.60! +1\.40 +1\.60! +1\.40 +3 of 5$' "$tmp/inter.small" ||
  fail "api_xkey at one key's rounds are not 1.40 1.60 1.40 1.60 1.40, 3 of 5"
grep -Eq '^  api_bearer +50 +1\.40 +1\.40 +1\.40 +1\.40 +1\.40 +5 of 5$' "$tmp/inter.small" ||
  fail "api_bearer at 50 keys' rounds are not 1.40 x5, 5 of 5"
grep -Eq '^  api_bearer +10,000 +1\.60! +1\.60! +1\.60! +1\.60! +1\.60! +0 of 5$' "$tmp/inter.small" ||
  fail "api_bearer at 10,000 keys' rounds are not 1.60 x5, 0 of 5"
if grep -Eq '10,000,000' "$tmp/inter.small"; then
  fail "a 1M/10M row in the small rows' round-by-round view"
fi

# 3. Back to back, with no mark at all (a file from before), interleaved
# in one shuffle (before the rounds), or with "rounds" as a string (not
# scripts/bench's): no round-by-round view, the medians' verdicts as ever.
for f in b2b old shuffle str; do
  run "$f" --report "$tmp/$f.json"
  [ "$rc" -eq 0 ] || fail "--report of $f exited $rc"
  grep -Eq 'meets \(excess 0\.97 chase\)' "$tmp/$f.out" || fail "$f: no median verdict"
  if grep -q "round by round" "$tmp/$f.out"; then
    fail "$f: a round-by-round view of a run not made in rounds"
  fi
done

# 4. Each round against its own SHA-256 and chase (the cheaper kind).
report pair
grep -q "the 1M/10M rows use the cheaper: 150.0 ns" "$tmp/pair.out" ||
  fail "pair: the 4 KiB chase (median 150) is not the yardstick"
if grep -q "digest then one access\|over kg_digest" "$tmp/pair.out"; then
  fail "a run without the digest chase reports it"
fi
grep -Eq '^  api_xkey +1,000,000 +0\.50 +0\.50 +0\.50 +3 of 3$' "$tmp/pair.out" ||
  fail "pair: the rounds are not each against their own SHA-256 and chase"

# 4a. The rows up to 10,000 keys, each round over its own SHA-256 (50, 52,
# 54, 50: none over 1.1x the fastest): 75, 78, 81, 75 are 1.50 in each
# (within: at 1.5x exactly is within, as the verdict has it; over the
# medians they would read 1.47-1.59).
gen "$tmp/smallpair.json" '{"interleaved": true, "rounds": 4}' \
  openssl/sha256_bare=50,52,54,50 \
  decide/api_xkey/valid/keys:50=75,78,81,75
report smallpair
grep -Eq '^  api_xkey +50 +1\.50 +1\.50 +1\.50 +1\.50 +4 of 4$' "$tmp/smallpair.out" ||
  fail "smallpair: the rounds are not each over their own SHA-256 (1.50, within)"
if grep -q '^  \^' "$tmp/smallpair.out"; then
  fail "smallpair: a round marked with no SHA-256 over 1.1x the fastest"
fi

# 4c. Rounds that are not whole: a SHA-256 of 0 in round 2 (a damaged
# file: '-', not divided by), a decision in round 1 only, the former
# fixture at 1, 3 and 50 keys, and a SHA-256 over 1.1x the run's fastest
# in round 4 (60 against 50: '^'), which flatters its ratios: within 1.5x
# that round is left out, over it still counts. 75.0001 / 50 prints 1.50
# and is over ('!').
gen "$tmp/ragged.json" '{"interleaved": true, "rounds": 4}' \
  openssl/sha256_bare=50,0,50,60 \
  decide/valid/keys:1=70,70,70,70 \
  decide/valid/keys:3=80,80,80,95 \
  decide/valid/keys:50=70 \
  decide/api_bearer/valid/keys:1=75.0001,75,75,75
report ragged
grep -Eq '^  former +1 +1\.40 +- +1\.40 +1\.17 \^ +2 of 2 \(1 left out\)$' "$tmp/ragged.out" ||
  fail "ragged: the former fixture at one key is not 1.40 - 1.40 1.17^, 2 of 2 (1 left out)"
grep -Eq '^  former +3 +1\.60! +- +1\.60! +1\.58!\^ +0 of 3$' "$tmp/ragged.out" ||
  fail "ragged: the former fixture at 3 keys is not 1.60! - 1.60! 1.58!^, 0 of 3"
grep -Eq '^  former +50 +1\.40 +- +- +- +1 of 1$' "$tmp/ragged.out" ||
  fail "ragged: a decision of one round is not 1.40 - - -, 1 of 1"
grep -Eq '^  api_bearer +1 +1\.50! +- +1\.50 +1\.25 \^ +1 of 2 \(1 left out\)$' "$tmp/ragged.out" ||
  fail "ragged: 75.0001/50 is not marked over, or round 4 not left out"
grep -Eq '^  \^ .*fastest \(50\.0 ns\).*' "$tmp/ragged.out" ||
  fail "ragged: no note on the SHA-256 over 1.1x the fastest"
grep -Eq '\(rounds 4\)$' "$tmp/ragged.out" || fail "ragged: the note does not name round 4"

# 4b. A chase over twice the run's fastest lookup at 10,000,000 keys (one
# random access into the table) measured something else than one access
# (on this host: 1.5-7 us beside 0.3-0.6 us decisions). In the round view
# such a round is marked *: under one chase it is left out, over it still
# counts. The 1M/10M verdicts take the medians over the other rounds; with
# none left, a row under the chase gets no verdict (and a warning), a row
# over it still misses. Without the lookup (pair.json above), or with no
# positive time for it, nothing is left out.
gen "$tmp/wild.json" '{"interleaved": true, "rounds": 4}' \
  openssl/sha256_bare=50,50,50,50 \
  context/pointer_chase_hugepages/MiB:1024=200,200,2000,200 \
  index/lookup_hit/keys:10000000=180,190,180,0 \
  decide/api_xkey/valid/keys:10000000=290,290,290,290
report wild
grep -Eq '^  api_xkey +10,000,000 +1\.07 +1\.07 +0\.11\* +1\.07 +0 of 3 \(1 left out\)$' \
  "$tmp/wild.out" || fail "wild: round 3 (chase 2000 ns, fastest lookup 180) is counted"
grep -q '^  1 of its 4 rounds took over 2x the run.s fastest lookup' "$tmp/wild.out" ||
  fail "wild: no line on the left-out round"
grep -Eq '\(rounds 3\)$' "$tmp/wild.out" || fail "wild: the note does not name round 3"
grep -Eq '^  api_xkey +10,000,000 .*MISSES \(excess 1\.07 chase\)' "$tmp/wild.out" ||
  fail "wild: not MISSES at 1.07 over the other rounds"
if grep -q WARNING "$tmp/wild.out"; then fail "wild: a warning with a sound chase"; fi

# Wild rounds that would raise a sound-looking median: chase 150, 150,
# 2000, 2000, 360 against a fastest lookup of 180 (360 is the line, and
# exactly 2x is no outlier): the median of all (360) would say meets; over
# rounds 1, 2 and 5 the chase is 150. The SHA-256 (40, 50, 70, 70, 60) and
# the decisions (valid 270, 280, 600, 600, 290; unknown 300, 308, 100, 100,
# 316) are taken over the same rounds: 50 and 280 (all rounds: 60 and
# 290), so the row misses at 1.37 chase (1.33 from all rounds' SHA-256 and
# decision) and unknown/valid is 308/280 = +10.0 % (all rounds: +3.4 %).
gen "$tmp/raised.json" '{"interleaved": true, "rounds": 5}' \
  openssl/sha256_bare=40,50,70,70,60 \
  context/pointer_chase_hugepages/MiB:1024=150,150,2000,2000,360 \
  index/lookup_hit/keys:10000000=180,180,180,180,180 \
  decide/api_xkey/valid/keys:10000000=270,280,600,600,290 \
  decide/api_xkey/unknown/keys:10000000=300,308,100,100,316
report raised
grep -q '^  2 of its 5 rounds took over 2x' "$tmp/raised.out" ||
  fail "raised: not 2 of 5 rounds left out (360 = 2x is no outlier)"
grep -q 'are over the other 3: chase 150.0 ns, bare SHA-256 50.0 ns$' "$tmp/raised.out" ||
  fail "raised: the kept rounds' chase and SHA-256 are not 150 and 50 ns"
grep -Eq '^  api_xkey +10,000,000 +280\.0 ns +5\.60x .*MISSES \(excess 1\.37 chase\) +308\.0 ns +\+10\.0% !$' \
  "$tmp/raised.out" || fail "raised: the verdict or unk/valid is not over the rounds whose chase was an access"
grep -Eq '^  api_xkey +10,000,000 +1\.40 +1\.37 +0\.25\* +0\.25\* +0\.56 +1 of 3 \(2 left out\)$' \
  "$tmp/raised.out" || fail "raised: the rounds are not 1.40 1.37 0.25* 0.25* 0.56, 1 of 3"

# The line is twice the run's FASTEST lookup, not its median: lookups 150,
# 300, 300; a chase of 400 is over 300 (fastest) though under 600 (median).
gen "$tmp/fastest.json" '{"interleaved": true, "rounds": 3}' \
  openssl/sha256_bare=50,50,50 \
  context/pointer_chase_hugepages/MiB:1024=200,400,200 \
  index/lookup_hit/keys:10000000=150,300,300 \
  decide/api_xkey/valid/keys:10000000=290,290,290
report fastest
grep -Eq '^  api_xkey +10,000,000 +1\.07 +0\.54\* +1\.07 +0 of 2 \(1 left out\)$' \
  "$tmp/fastest.out" || fail "fastest: a chase over twice the fastest lookup is not marked"

# Not made in rounds (back to back): only the chase's median leaves the
# marked repetitions out; the line says so.
gen "$tmp/b2bwild.json" '{"interleaved": false}' \
  openssl/sha256_bare=50,50,50 \
  context/pointer_chase_hugepages/MiB:1024=200,2000,2000 \
  index/lookup_hit/keys:10000000=180,180,180 \
  decide/api_xkey/valid/keys:10000000=290,290,290
report b2bwild
grep -q "take the chase's median over the other 1: 200.0 ns" "$tmp/b2bwild.out" ||
  fail "b2bwild: the line does not say only the chase's median is over the others"
grep -Eq '^  api_xkey +10,000,000 .*MISSES \(excess 1\.07 chase\)' "$tmp/b2bwild.out" ||
  fail "b2bwild: not MISSES against the unmarked chase"

# Every round's chase wild: a row under it gets no verdict, a row over it
# (5000 ns: over even that chase) still misses.
gen "$tmp/wilder.json" '{"interleaved": true, "rounds": 3}' \
  openssl/sha256_bare=50,50,50 \
  context/pointer_chase_hugepages/MiB:1024=2000,2000,2000 \
  index/lookup_hit/keys:10000000=180,180,180 \
  decide/api_xkey/valid/keys:10000000=290,290,290 \
  decide/api_bearer/valid/keys:10000000=5000,5000,5000 \
  decide/valid/keys:1000000=250,250,250
report wilder
grep -q "WARNING: that chase is over 2x the run's fastest lookup" "$tmp/wilder.out" ||
  fail "wilder: no warning on a chase of no access"
grep -Eq '^  api_xkey +10,000,000 .*no verdict \(the chase\)' "$tmp/wilder.out" ||
  fail "wilder: a row under a chase of no access got a verdict"
grep -Eq '^   1,000,000 .*no verdict \(the chase\)$' "$tmp/wilder.out" ||
  fail "wilder: the former fixture's 1M row got a verdict from a chase of no access"
grep -Eq '^  api_bearer +10,000,000 .*MISSES \(excess 2\.46 chase\)' "$tmp/wilder.out" ||
  fail "wilder: a miss even against a chase of no access was not kept"
if grep -Eq 'meets' "$tmp/wilder.out"; then
  fail "wilder: a meet beside a chase of no access"
fi
grep -Eq '^  api_xkey +10,000,000 .* 0 of 0 \(3 left out\)$' "$tmp/wilder.out" ||
  fail "wilder: the rounds under a wild chase are not left out"
grep -Eq '^  api_bearer +10,000,000 +2\.46\* +2\.46\* +2\.46\* +0 of 3$' "$tmp/wilder.out" ||
  fail "wilder: rounds over a wild chase are not counted as over"

# A lookup with no positive time: nothing to hold the chase against.
gen "$tmp/nolookup.json" '{"interleaved": true, "rounds": 2}' \
  openssl/sha256_bare=50,50 \
  context/pointer_chase_hugepages/MiB:1024=2000,2000 \
  index/lookup_hit/keys:10000000=0,0 \
  decide/api_xkey/valid/keys:10000000=290,290
report nolookup
grep -q "has no positive time: the chase is not checked" "$tmp/nolookup.out" ||
  fail "nolookup: no word that the chase went unchecked"
grep -Eq '^  api_xkey +10,000,000 .*meets \(excess 0\.11 chase\)' "$tmp/nolookup.out" ||
  fail "nolookup: the medians' verdict changed without a lookup to check by"

# 4d. The fastest SHA-256 is the run's minimum (56, 50, 56, 56: rounds 1,
# 3 and 4, over 1.1x its 50, are marked and, within 1.5x, left out); a
# decision index past the file's rounds gets a column of its own ('-': no
# SHA-256 there); a decision of 0 (a damaged file) is '-', not a ratio;
# the CPUs the run was allowed (the context's "cpus") head the report.
gen "$tmp/fastmin.json" '{"interleaved": true, "rounds": 4, "cpus": [1]}' \
  openssl/sha256_bare=56,50,56,56 \
  decide/api_xkey/valid/keys:50=80,70,80,80,70 \
  decide/api_xkey/valid/keys:1=0,70,70,70
report fastmin
grep -Eq '^  api_xkey +50 +1\.43 \^ +1\.40 +1\.43 \^ +1\.43 \^ +- +1 of 1 \(3 left out\)$' \
  "$tmp/fastmin.out" || fail "fastmin: the marks are not against the run's fastest SHA-256 (50 ns)"
grep -Eq '^  api_xkey +1 +- +1\.40 +1\.25 \^ +1\.25 \^ +1 of 1 \(2 left out\)$' "$tmp/fastmin.out" ||
  fail "fastmin: a decision of 0 is not '-'"
grep -Eq '^SPEC §4 yardsticks \(median CPU time, .*; CPU 1\)$' "$tmp/fastmin.out" ||
  fail "fastmin: the report does not name the run's CPU"

# Nine rounds: the cells are wider than the column's 40 characters; the
# counts stay under their header.
gen "$tmp/wide.json" '{"interleaved": true, "rounds": 9}' \
  openssl/sha256_bare=50,50,50,50,50,50,50,50,50 \
  decide/api_xkey/valid/keys:1=70,70,70,70,70,70,70,70,80
report wide
"$py" - "$tmp/wide.out" <<'PY' || fail "wide: the counts are not under their header"
import sys
lines = open(sys.argv[1]).read().splitlines()
head = [l for l in lines if l.endswith("within 1.5x")][0]
row = [l for l in lines if l.startswith("  api_xkey ") and l.endswith("8 of 9")][0]
assert head.index("within") == row.index("8 of 9"), (head, row)
PY

# 5. A run made in rounds gets Google Benchmark's aggregates from
# scripts/bench (add_aggregates): mean, median, sample stddev, cv.
"$py" - "$src/scripts/bench" <<'PY' || fail "add_aggregates is wrong"
import importlib.machinery, importlib.util, sys
loader = importlib.machinery.SourceFileLoader("bench", sys.argv[1])
mod = importlib.util.module_from_spec(
    importlib.util.spec_from_loader("bench", loader))
loader.exec_module(mod)
runs = [{"name": "x", "run_name": "x", "run_type": "iteration",
         "repetition_index": i, "repetitions": 4, "family_index": 3,
         "per_family_instance_index": 0, "threads": 1, "time_unit": "ns",
         "real_time": v + 1, "cpu_time": v} for i, v in enumerate((1, 2, 4, 9))]
runs.append({"name": "bad", "run_name": "bad", "run_type": "iteration",
             "error_occurred": True, "cpu_time": 0, "real_time": 0})
data = {"benchmarks": runs}
mod.add_aggregates(data)
agg = {b["aggregate_name"]: b for b in data["benchmarks"]
       if b.get("run_type") == "aggregate"}
assert sorted(agg) == ["cv", "mean", "median", "stddev"], sorted(agg)
assert agg["mean"]["cpu_time"] == 4.0 and agg["median"]["cpu_time"] == 3.0
assert abs(agg["stddev"]["cpu_time"] - 3.5590260840104) < 1e-9
assert abs(agg["cv"]["cpu_time"] - 3.5590260840104 / 4) < 1e-9
assert agg["median"]["real_time"] == 4.0
assert agg["median"]["name"] == "x_median" and agg["median"]["repetitions"] == 4
assert agg["cv"]["aggregate_unit"] == "percentage"
assert agg["median"]["family_index"] == 3
assert not any(b.get("run_name") == "bad" and b.get("run_type") == "aggregate"
               for b in data["benchmarks"]), "an aggregate of an errored run"
PY

# record_build writes the CPUs the run was allowed into the context: run
# under taskset -c 0, it records [0].
printf '{"benchmarks": []}' >"$tmp/rec.json"
mkdir -p "$tmp/recbuild/bin"
taskset -c 0 "$py" - "$src/scripts/bench" "$tmp/rec.json" "$tmp/recbuild/bin/keygate_bench" <<'PY' ||
import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader("bench", sys.argv[1])
mod = importlib.util.module_from_spec(
    importlib.util.spec_from_loader("bench", loader))
loader.exec_module(mod)
mod.record_build(sys.argv[2], sys.argv[3], True, 0)
ctx = json.load(open(sys.argv[2]))["context"]
assert ctx["cpus"] == [0], ctx.get("cpus")
# ... this machine's CPU model, as cpu_model() reads /proc/cpuinfo for CPU
# 0 (absent where it reads none), and KEYGATE_CPU when set, else nothing.
assert ctx.get("cpu_model") == mod.cpu_model(cpu=0), ctx.get("cpu_model")
assert "keygate_cpu" not in ctx, ctx
import os
os.environ["KEYGATE_CPU"] = "baseline"
mod.record_build(sys.argv[2], sys.argv[3], True, 0)
assert json.load(open(sys.argv[2]))["context"]["keygate_cpu"] == "baseline"
PY
  fail "record_build does not record the CPUs the run was allowed, the CPU or KEYGATE_CPU"

# cpu_model: the block of the CPU asked for (else the first), its name,
# vendor, family, model, P-core or E-core from sysfs, the features keygate
# chooses among that it offers (in cpu.h's order); arm64's implementer and
# part; None without /proc/cpuinfo; bytes that are not UTF-8 read anyway.
printf '%s\n' '' 'processor	: 0' 'vendor_id	: AuthenticAMD' 'cpu family	: 25' \
  'model		: 17' 'model name	: AMD EPYC' 'flags		: fpu sse2 avx2 pclmulqdq sha_ni' '' \
  'processor	: 1' 'vendor_id	: GenuineIntel' 'cpu family	: 6' 'model		: 151' \
  'model name	: Hybrid: i9' 'flags		: sse2' >"$tmp/cpuinfo"
mkdir -p "$tmp/sys/cpu_core" "$tmp/sys/cpu_atom"
echo 0 >"$tmp/sys/cpu_core/cpus"
echo 1-3,8 >"$tmp/sys/cpu_atom/cpus"
printf 'processor\t: 0\r\nBogoMIPS\t: 50.00\r\nFeatures\t: fp asimd\r\nCPU implementer\t: 0x41\r\nCPU part\t: 0xd0c\r\n' >"$tmp/cpuinfo-arm"
printf 'Processor\t: AArch64 Processor rev 4 (aarch64)\nprocessor\t: 0\nCPU implementer\t: 0x51\n' >"$tmp/cpuinfo-oldarm"
printf 'processor\t: 0\nmodel name\t: Caf\351\nflags\t: avx2\n' >"$tmp/cpuinfo-latin1"
"$py" - "$src/scripts/bench" "$tmp" <<'PY' || fail "cpu_model is wrong"
import importlib.machinery, importlib.util, sys
loader = importlib.machinery.SourceFileLoader("bench", sys.argv[1])
mod = importlib.util.module_from_spec(
    importlib.util.spec_from_loader("bench", loader))
loader.exec_module(mod)
t = sys.argv[2]
none = t + "/nosys"
got = mod.cpu_model(t + "/cpuinfo", cpu=0, sysfs=none)
assert got == "AMD EPYC (AuthenticAMD, family 25, model 17; offers sha_ni pclmulqdq avx2)", got
got = mod.cpu_model(t + "/cpuinfo", cpu=1, sysfs=none)
assert got == "Hybrid: i9 (GenuineIntel, family 6, model 151; none of sha_ni pclmulqdq avx2)", got
got = mod.cpu_model(t + "/cpuinfo", cpu=1, sysfs=t + "/sys")
assert got == "Hybrid: i9 (GenuineIntel, family 6, model 151, E-core; none of sha_ni pclmulqdq avx2)", got
got = mod.cpu_model(t + "/cpuinfo", cpu=0, sysfs=t + "/sys")
assert ", P-core;" in got, got
got = mod.cpu_model(t + "/cpuinfo", cpu=7, sysfs=none)  # no block: the first
assert got.startswith("AMD EPYC (AuthenticAMD"), got
got = mod.cpu_model(t + "/cpuinfo-arm", cpu=0, sysfs=none)
assert got.endswith(" (implementer 0x41, part 0xd0c)") and "none of" not in got, got
got = mod.cpu_model(t + "/cpuinfo-oldarm", cpu=0, sysfs=none)
assert got == "AArch64 Processor rev 4 (aarch64) (implementer 0x51)", got
got = mod.cpu_model(t + "/cpuinfo-latin1", cpu=0, sysfs=none)
assert got.startswith("Caf") and got.endswith("(offers avx2)"), got
assert mod.cpu_model(t + "/absent", cpu=0, sysfs=none) is None
assert mod.cpu_list("0-3,8") == {0, 1, 2, 3, 8} and mod.cpu_list("x") == set()
PY

# The report names the run's CPU under its heading; a file without a model
# gets no such line.
gen "$tmp/withcpu.json" '{"cpu_model": "AMD EPYC (AuthenticAMD, family 25, model 17; sha_ni)"}' \
  openssl/sha256_bare=60,60,60,60,60
report withcpu
grep -qF "  on AMD EPYC (AuthenticAMD, family 25, model 17; sha_ni): the ratios below are this core's" \
  "$tmp/withcpu.out" || fail "the report does not name the run's CPU"
gen "$tmp/limited.json" '{"cpu_model": "X (offers avx2)", "keygate_cpu": "baseline"}' \
  openssl/sha256_bare=60,60,60,60,60
report limited
grep -qF "  on X (offers avx2), keygate's choices limited by KEYGATE_CPU=baseline: the ratios" \
  "$tmp/limited.out" || fail "the report does not say KEYGATE_CPU limited the run"
gen "$tmp/nocpu.json" '{}' openssl/sha256_bare=60,60,60,60,60
report nocpu
! grep -q "the ratios below are this core's" "$tmp/nocpu.out" || fail "a CPU line for a file without one"

# 6. The core watched (bench/watch.h's counters). One sensor in every
# watched benchmark: the run's fastest reading is 30 (the decisions'; the
# SHA-256's own fastest is 31); a repetition whose fastest is over 1.0625x
# that (31.875) is left out, its quiet_ns and its quiet_share alike; one
# at exactly 31.875 is kept. The quiet ratio divides by the bare SHA-256's
# quiet_ns over its kept repetitions: sensors 31, 31.875, 32.5 (out by the
# run's fastest, in by its own: 32.9375) -> quiet 50, 52 -> 51 (its median
# CPU time, 70, is not used).
# - api_bearer at 1 key: quiet 60 (sensor 30), 64 (31.875: kept), 99
#   (31.9: out), 70 (31) -> median of 60, 64, 70 = 64 (1.25x, meets, 3 of
#   4; the mean would be 64.67); unknown 66 (30) and 200 (40: out) -> 66,
#   +3.1%.
# - browser_xkey at 1 key: 76.5, 76, 77 -> 76.5 (1.50x: meets, the
#   boundary); its unknown 70 (-8.5% !).
# - browser_xkey at 50 keys: 80 -> 1.57x, MISSES.
# - api_xkey at 50 keys: a quiet_ns of Infinity is no reading: 0 of 1.
# - api_xkey at 1 key: no counters at all: no row. browser_bearer: its
#   repetitions' counters are a string, a NaN share, a share over 1, a zero
#   or NaN sensor: no row, no traceback.
# - the share: the mean over the valid rows' kept repetitions, api_bearer's
#   0.5, 0.5, 0.2, browser_xkey's 0.1 x 4, api_xkey's 0 at 50 keys: 1.6 /
#   8 = 20 %.
"$py" - "$tmp/quiet.json" <<'PY'
import json, sys
benches = []
def rep(name, i, t, counters):
    b = {"name": name, "run_name": name, "run_type": "iteration",
         "repetitions": 4, "repetition_index": i, "iterations": 1000,
         "real_time": t, "cpu_time": t, "time_unit": "ns"}
    b.update(counters)
    benches.append(b)
def watched(name, runs, t=120):
    for i, (q, s, share) in enumerate(runs):
        c = {"sensor_ns": s, "quiet_share": share}
        if q is not None:
            c["quiet_ns"] = q
        rep(name, i, t, c)
watched("openssl/sha256_bare", [(50, 31, 1.0), (52, 31.875, 1.0),
                                (60, 32.5, 1.0)], t=70)
for i in range(3):
    rep("decide/api_xkey/valid/keys:1", i, 100, {})
watched("decide/api_bearer/valid/keys:1",
        [(60, 30, 0.5), (64, 31.875, 0.5), (99, 31.9, 0.9), (70, 31, 0.2)])
watched("decide/api_bearer/unknown/keys:1", [(66, 30, 0.5), (200, 40, 0.9)])
watched("decide/browser_xkey/valid/keys:1",
        [(76.5, 30, 0.1), (76, 30, 0.1), (77, 30, 0.1)], t=130)
watched("decide/browser_xkey/unknown/keys:1", [(70, 30, 0.1)], t=130)
watched("decide/browser_xkey/valid/keys:50", [(80, 30, 0.1)], t=130)
watched("decide/api_xkey/valid/keys:50", [(float("inf"), 30, 0)], t=130)
# unreadable counters: never a traceback, never a reading
for i, c in enumerate([{"quiet_ns": 70, "sensor_ns": "x", "quiet_share": 0.2},
                       {"quiet_ns": 70, "sensor_ns": 30, "quiet_share": "x"},
                       {"quiet_ns": 70, "sensor_ns": 30, "quiet_share": float("nan")},
                       {"quiet_ns": 70, "sensor_ns": 30, "quiet_share": 1.5},
                       {"quiet_ns": 70, "sensor_ns": 0, "quiet_share": 0.5},
                       {"quiet_ns": 70, "sensor_ns": float("nan"), "quiet_share": 0.5}]):
    rep("decide/browser_bearer/valid/keys:1", i, 130, c)
json.dump({"context": {}, "benchmarks": benches}, open(sys.argv[1], "w"))
PY
report quiet
grep -qF "Divided by the bare SHA-256 over its quiet slices, 51.0 ns (2 of 3 repetitions)" \
  "$tmp/quiet.out" || fail "the quiet view does not divide by the SHA-256's quiet 51 ns"
grep -Eq '^  api_bearer +1 +64\.0 ns +1\.25x +meets +3 of 4 +66\.0 ns +\+3\.1%$' \
  "$tmp/quiet.out" || fail "api_bearer's quiet row is not 64 ns, 1.25x, 3 of 4, unknown 66"
grep -Eq '^  browser_xkey +1 +76\.5 ns +1\.50x +meets +3 of 3 +70\.0 ns +-8\.5% !$' \
  "$tmp/quiet.out" || fail "browser_xkey at 1.50x does not meet, or its unknown row is off"
grep -Eq '^  browser_xkey +50 +80\.0 ns +1\.57x +MISSES +1 of 1' "$tmp/quiet.out" ||
  fail "browser_xkey at 50 keys (1.57x) does not miss"
grep -Eq '^  api_xkey +50 +- +- +- +0 of 1$' "$tmp/quiet.out" ||
  fail "an infinite quiet_ns was read as a reading"
! grep -Eq '^  browser_bearer +1 .* of ' "$tmp/quiet.out" ||
  fail "unreadable counters made a row"
! grep -Eq '^  api_xkey +1 .* of ' "$tmp/quiet.out" ||
  fail "a row without sensor counters got a quiet row"
grep -qF "slices with the core to themselves: 20% of the valid decisions' in the repetitions kept" \
  "$tmp/quiet.out" || fail "the share is not the kept repetitions' mean"
grep -Eq '^  api_bearer +1 +120\.0 ns +1\.71x +<= 1\.5x +MISSES' "$tmp/quiet.out" ||
  fail "the medians' verdict changed beside the quiet view"
! grep -q "core to themselves" "$tmp/inter.out" ||
  fail "a run without sensor counters shows the quiet view"
# without a watched SHA-256 the view divides by its median and says so;
# watched with no quiet repetition, it says that
"$py" - "$tmp/quiet.json" "$tmp/unwatched.json" "$tmp/unquiet.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
shas = [b for b in d["benchmarks"] if b["run_name"] == "openssl/sha256_bare"]
for b in shas:
    b["sensor_ns"] = 40
json.dump(d, open(sys.argv[3], "w"))
for b in shas:
    for k in ("quiet_ns", "sensor_ns", "quiet_share"):
        b.pop(k, None)
json.dump(d, open(sys.argv[2], "w"))
PY
report unwatched
grep -qF "Divided by the bare SHA-256's median, 70.0 ns (not watched in this run;" \
  "$tmp/unwatched.out" || fail "an unwatched SHA-256 is not named as the divisor"
grep -Eq '^  api_bearer +1 +64\.0 ns +0\.91x' "$tmp/unwatched.out" ||
  fail "the unwatched SHA-256's median is not the divisor"
report unquiet
grep -qF "(watched, but no repetition of it had a quiet slice;" "$tmp/unquiet.out" ||
  fail "a watched SHA-256 without a quiet repetition is called unwatched"
# the run's fastest reading is the SHA-256's when it is lowest: at 28 every
# decision's repetition (30 and up, over 29.75) is left out
"$py" - "$tmp/quiet.json" "$tmp/shafast.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
next(b for b in d["benchmarks"] if b["run_name"] == "openssl/sha256_bare")["sensor_ns"] = 28
json.dump(d, open(sys.argv[2], "w"))
PY
report shafast
grep -Eq '^  api_bearer +1 +- +- +- +0 of 4$' "$tmp/shafast.out" ||
  fail "the run's fastest reading is not taken over the SHA-256's too"

# 7. kg_head_parse against picohttpparser: each on its own (medians) and
# side by side (head/paired's kg_over_pico, the median over repetitions).
# The verdict (at least as fast) is the side-by-side ratio's where there is
# one, the medians' ratio where not, and only on the hostile and realistic
# heads. hostile: alone 100 vs 80 (1.25x), side by side 0.90, 0.95, 1.20 ->
# 0.95: meets. api_xkey: alone 90 vs 100 (0.90x), side by side 1.02, 1.04
# (and a 0 and a -1, which are no ratio) -> 1.03: MISSES. browser_bearer
# side by side 1.00: meets (at least as fast). api_bearer: no paired run, alone 90 vs 100: meets.
# short and typical, side by side 1.10: no verdict (context).
"$py" - "$tmp/parse.json" <<'PY'
import json, sys
benches = []
def rep(name, i, t, counters):
    b = {"name": name, "run_name": name, "run_type": "iteration",
         "repetitions": 3, "repetition_index": i, "iterations": 1000,
         "real_time": t, "cpu_time": t, "time_unit": "ns"}
    b.update(counters)
    benches.append(b)
for h, kg, pico, size, pairs in (("hostile", 100, 80, 14682, [0.90, 0.95, 1.20]),
                                 ("api_xkey", 90, 100, 241, [1.02, 1.04, 0, -1]),
                                 ("api_bearer", 90, 100, 252, []),
                                 ("browser_bearer", 90, 100, 934, [1.0]),
                                 ("typical", 90, 100, 677, [1.10]),
                                 ("short", 60, 50, 97, [1.10])):
    for i in range(3):
        rep(f"head/parse/{h}", i, kg, {"head_bytes": size})
        rep(f"head/pico/{h}", i, pico, {"head_bytes": size})
    for i, r in enumerate(pairs):
        rep(f"head/paired/{h}", i, 40000, {"kg_over_pico": r, "head_bytes": size})
json.dump({"context": {}, "benchmarks": benches}, open(sys.argv[1], "w"))
PY
report parse
grep -Eq '^  hostile +14682 +100\.0 ns .* 1\.25x +0\.95x +meets$' "$tmp/parse.out" ||
  fail "hostile's side-by-side 0.95x does not meet"
grep -Eq '^  api_xkey +241 .* 0\.90x +1\.03x +MISSES$' "$tmp/parse.out" ||
  fail "api_xkey's side-by-side 1.03x does not miss"
grep -Eq '^  api_bearer +252 .* 0\.90x +- +meets$' "$tmp/parse.out" ||
  fail "api_bearer without a paired run is not judged by its medians"
grep -Eq '^  short +97 .* 1\.20x +1\.10x +-$' "$tmp/parse.out" ||
  fail "the short head got a verdict"
grep -Eq '^  typical +677 .* 1\.10x +-$' "$tmp/parse.out" ||
  fail "the typical head got a verdict"
grep -Eq '^  browser_bearer +934 .* 1\.00x +meets$' "$tmp/parse.out" ||
  fail "a side-by-side ratio of exactly 1.00 does not meet"

# 8. The 10,000-key table over fewer different keys: one line with the
# four rows' medians, and none when a row is missing.
d=context/decide_distinct/api_bearer/keys:10000/distinct
gen "$tmp/distinct.json" '{}' openssl/sha256_bare=50,50,50 \
  "$d:1=80,80,80" "$d:256=83,83,83" "$d:2048=88,88,88" "$d:10000=90,90,90"
report distinct
grep -Eq '^    N=1: 80\.0 ns   N=256: 83\.0 ns   N=2,048: 88\.0 ns   N=10,000: 90\.0 ns$' \
  "$tmp/distinct.out" || fail "the distinct-key rows are not reported"
gen "$tmp/distinct3.json" '{}' openssl/sha256_bare=50,50,50 \
  "$d:1=80,80,80" "$d:256=83,83,83" "$d:2048=88,88,88"
report distinct3
if grep -q "deciding only the first N" "$tmp/distinct3.out"; then
  fail "the distinct-key line printed with a row missing"
fi

# 9. Valid and unknown side by side (context/decide_paired's
# unknown_over_valid, the median over repetitions): the column shows it,
# and the '!' is that ratio's where there is one. At 10,000 keys the
# medians are 8 % apart (which alone would flag) but side by side 1.00,
# 1.01, 1.02 -> +1.0 %: no flag; at 50 keys the medians agree but side by
# side 1.07, 1.06 (and a 0, which is no ratio) -> +6.5 % !; at 1 key no
# paired run: "-", and the medians' 9 % is flagged as before.
"$py" - "$tmp/ctpair.json" <<'PY'
import json, sys
benches = []
def rep(name, i, t, counters=None):
    b = {"name": name, "run_name": name, "run_type": "iteration",
         "repetitions": 3, "repetition_index": i, "iterations": 1000,
         "real_time": t, "cpu_time": t, "time_unit": "ns"}
    b.update(counters or {})
    benches.append(b)
for i in range(3):
    rep("openssl/sha256_bare", i, 50)
    for n, valid, unknown in ((1, 60, 65.4), (50, 60, 60), (10000, 60, 64.8)):
        rep(f"decide/api_bearer/valid/keys:{n}", i, valid)
        rep(f"decide/api_bearer/unknown/keys:{n}", i, unknown)
for n, pairs in ((10000, [1.00, 1.01, 1.02]), (50, [1.07, 1.06, 0])):
    for i, r in enumerate(pairs):
        rep(f"context/decide_paired/api_bearer/keys:{n}", i, 40000,
            {"unknown_over_valid": r, "valid_ns": 60, "unknown_ns": 60 * r})
json.dump({"context": {}, "benchmarks": benches}, open(sys.argv[1], "w"))
PY
report ctpair
grep -q "unk/valid  side by side$" "$tmp/ctpair.out" ||
  fail "no side-by-side column beside unk/valid"
grep -Eq '^  api_bearer +10,000 +60\.0 ns .* 64\.8 ns +\+8\.0% +\+1\.0%$' "$tmp/ctpair.out" ||
  fail "10,000 keys: the medians' 8 % flagged though side by side is +1.0 %"
grep -Eq '^  api_bearer +50 +60\.0 ns .* 60\.0 ns +\+0\.0% +\+6\.5% !$' "$tmp/ctpair.out" ||
  fail "50 keys: side by side +6.5 % not flagged"
grep -Eq '^  api_bearer +1 +60\.0 ns .* 65\.4 ns +\+9\.0% ! +-$' "$tmp/ctpair.out" ||
  fail "1 key: without a paired run the medians' 9 % is not flagged"

# 10. A file that is not JSON: exit 2, named.
echo '{"benchmarks": [' >"$tmp/broken.json"
run broken --report "$tmp/broken.json"
[ "$rc" -eq 2 ] || fail "a broken file exited $rc, expected 2"
grep -q "cannot read $tmp/broken.json" "$tmp/broken.err" || fail "the broken file is not named"

echo "bench_report: ok"
