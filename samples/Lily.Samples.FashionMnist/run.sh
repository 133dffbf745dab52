#!/usr/bin/env bash
# The README's main job: installs Fashion-MNIST when it is missing, then runs the sample
# (Release build). Options go to the sample, e.g. --quick, --seeds 1 2 3, --help.
set -euo pipefail
cd "$(dirname "$0")/../.."
case " $* " in
  *" --data "*|*" --help "*|*" -h "*) ;;
  *) bash build/install-fashion-mnist.sh ;;
esac
exec dotnet run -c Release --project samples/Lily.Samples.FashionMnist -- "$@"
