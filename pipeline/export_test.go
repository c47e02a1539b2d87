package pipeline

// SetHook lets tests stop a run at a named point of publishing.
func SetHook(o *Options, hook func(stage string)) { o.hook = hook }

// EraseSubjectsWithHook is EraseSubjects stopping at named points, for
// tests that kill it there.
var EraseSubjectsWithHook = eraseSubjects
