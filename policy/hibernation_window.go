package policy

// AwakeWindow is a weekly recurring time during which the apps it covers are not put to sleep
// (business hours, a nightly batch that calls the app). Apps already asleep when a window opens stay
// asleep until their next request. Days, hours and timezone are written as the autoscaler's scale-down
// windows are (ScaleDownWindow):
//
//	days:     "mon-fri", "sat,sun", "mon,wed-fri" or "*" (every day, the default)
//	hours:    "08:00-18:00", or several ranges "08:00-12:00,13:00-18:00"; a range whose end is not after its
//	          start runs past midnight and belongs to the day it starts ("22:00-02:00" on fri is Friday
//	          22:00 to Saturday 02:00); "00:00-24:00" is the whole day
//	timezone: an IANA zone ("Europe/Berlin"); "UTC" by default
//	apps:     app id patterns the window covers; every app when empty
type AwakeWindow struct {
	Days     string   `yaml:"days" json:"days,omitempty"`
	Hours    string   `yaml:"hours" json:"hours"`
	Timezone string   `yaml:"timezone" json:"timezone,omitempty"`
	Apps     []string `yaml:"apps" json:"apps,omitempty"`
}

// awakeWindow is a compiled AwakeWindow.
type awakeWindow struct {
	hours openHours
	apps  []string
}

func (w AwakeWindow) compile(errs *Errors, at string) (awakeWindow, bool) {
	n := len(*errs)
	hours := compileOpenHours(errs, at, w.Days, w.Hours, w.Timezone)
	checkIDPatterns(errs, at+".apps", w.Apps)
	return awakeWindow{hours: hours, apps: w.Apps}, len(*errs) == n
}

func (w awakeWindow) covers(appID string) bool {
	return len(w.apps) == 0 || matchAnyID(w.apps, appID)
}
