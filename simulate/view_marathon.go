package simulate

// NewAppSpec returns the definition of a new app: Marathon's defaults, the same the model gives an app
// that a PUT creates, changed by u. It is what a POST /v2/apps hands to CreateApp.
func NewAppSpec(id string, u AppUpdate) App {
	a := defaultApp(NormalizeAppID(id))
	a.apply(u)
	return *a
}
