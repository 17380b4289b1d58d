#!/usr/bin/env bash
# Rebuilds the reference model from ../shared/data, exactly as it was made, and checks that
# the weights and the model card come out byte for byte as committed.
#
#   models/cxr-covid-vs-rest/reproduce.sh WORKDIR [--update]
#
# WORKDIR receives the catalog (data/), the release (release/cxr-covid-v1), the model
# (model/) and its test report (report/). --update copies the new model, record and card
# over the committed ones instead of comparing (for a deliberate retraining).
#
# public-data.key is the server secret for the public shared collections only (each
# collection is a site, keyed with a key derived from it), so that anyone can rebuild the
# same release (its file names and patient pseudonyms come from the key).
# Never use it for a hospital's data: with the key public, pseudonyms can be checked
# against guessed patient ids.
#
# LUNGHUB names the lunghub program (default: lunghub on PATH); LUNGHUB_SHARED_DATA the
# shared data folder (default: ../shared/data beside the repository).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lunghub=${LUNGHUB:-lunghub}
shared=${LUNGHUB_SHARED_DATA:-$root/../shared/data}
work=${1:?usage: reproduce.sh WORKDIR [--update]}
update=${2:-}
data=$work/data

for site in cxr-radiographydb-dev cxr-nih-dev cxr-actualmed-dev cxr-ieee8023-2020-04; do
  "$lunghub" ingest --site "$site" --server-key "$here/public-data.key" --data-dir "$data" "$shared/$site"
  "$lunghub" catalog approve --site "$site" --reviewer "lunghub reference recipe" --data-dir "$data"
done
"$lunghub" release create cxr-covid --modality X-ray --data-dir "$data"
"$lunghub" release export cxr-covid --version 1 --out "$work/release" --data-dir "$data"
"$lunghub" train "$work/release/cxr-covid-v1" --config "$here/train.json" --out "$work/model"
"$lunghub" evaluate "$work/model" "$work/release/cxr-covid-v1" --split test --data-dir "$data" \
  --out "$work/report"

if [ "$update" = --update ]; then
  cp "$work/model/model.safetensors" "$work/model/model.json" "$here/"
  cp "$work/report/MODEL_CARD.md" "$here/MODEL_CARD.md"
  echo "updated the committed reference model"
  exit 0
fi
status=0
if cmp -s "$work/model/model.safetensors" "$here/model.safetensors"; then
  echo "model.safetensors: identical to the committed weights"
else
  echo "model.safetensors: DIFFERS from the committed weights" >&2
  status=1
fi
if diff -u "$here/MODEL_CARD.md" "$work/report/MODEL_CARD.md"; then
  echo "MODEL_CARD.md: identical to the committed card"
else
  echo "MODEL_CARD.md: DIFFERS from the committed card" >&2
  status=1
fi
exit $status
