# harvester: the commands the README documents.
SHELL := bash
CARGO ?= cargo
OUT ?= harvested

.PHONY: all build pipe view test lint fmt bench sample docker-shell docker-down clean

all: build

build:
	$(CARGO) build --workspace --bins

## Harvest the committed sample logs into ./harvested (embedded SQLite catalog).
pipe:
	$(CARGO) run --quiet --bin harvest -- sample_data --out $(OUT)

## Show what was harvested, and write an HTML page of each file to OUT/html/.
view:
	$(CARGO) run --quiet --bin view -- --out $(OUT) --list
	@for d in $(OUT)/*/; do \
		name=$$(basename "$$d"); \
		case "$$name" in dataset|html) continue;; esac; \
		$(CARGO) run --quiet --bin view -- --out $(OUT) "$$d"; \
		$(CARGO) run --quiet --bin view -- --out $(OUT) "$$d" --html "$(OUT)/html/$$name.html"; \
	done

## Every test, against a real PostgreSQL (started or installed when none is reachable),
## with DuckDB and polars from PyPI to read the dataset back, headless Chromium to
## open the HTML page and Prometheus to scrape the metrics (each installed when absent).
test:
	@bash scripts/ensure-python-deps.sh
	@bash scripts/ensure-browser.sh
	@bash scripts/ensure-prometheus.sh
	@url="$${HARVESTER_TEST_PG_URL:-}"; \
	if [ -z "$$url" ]; then url="$$(bash scripts/ensure-postgres.sh)" || exit 1; fi; \
	echo "PostgreSQL for the tests: $$url"; \
	HARVESTER_TEST_PG_URL="$$url" $(CARGO) test --workspace --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Time harvest against the I/O floor at 1x and 8x, the HTML page, 1,000 small files into
## PostgreSQL, rescans on both catalogs and the 1x log through S3 (release build; the
## README's Performance section says what it needs).
bench:
	scripts/bench.sh

## Regenerate the committed sample logs.
sample:
	$(CARGO) run --quiet -p harvester-generator --bin generate-log -- --out sample_data/forming_cell_small.parquet --rows 60000 --seed 7 --quirks
	$(CARGO) run --quiet -p harvester-generator --bin generate-log -- --out sample_data/forming_cell_small.csv --rows 6000 --seed 11 --quirks

## A shell in the harvester container, next to a PostgreSQL catalog and a watcher of
## ./inbox serving its metrics on localhost:9464.
docker-shell:
	docker compose up -d --build
	docker compose exec harvester bash

## Stops the compose stack (its volumes stay: `docker compose down -v` drops them).
docker-down:
	docker compose down

clean:
	rm -rf $(OUT)
