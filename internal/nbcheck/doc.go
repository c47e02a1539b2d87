// Package nbcheck holds the checks the committed Jupyter notebooks in
// notebooks/ must pass: they are shipped clean, without the outputs,
// execution counts or API keys of a run. It has no code of its own; `make
// notebooks` executes the notebooks against a live server.
package nbcheck
