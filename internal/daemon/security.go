package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
)

// Credentials for Mesos and Marathon come from files named by flags or, without a file, from the
// environment. They are never logged and never shown in /status: they go straight into the clients'
// configurations, and String hides them.
const (
	EnvMesosPrincipal   = "MARMOT_MESOS_PRINCIPAL"
	EnvMesosSecret      = "MARMOT_MESOS_SECRET"
	EnvMesosToken       = "MARMOT_MESOS_TOKEN"
	EnvMarathonUser     = "MARMOT_MARATHON_USER"
	EnvMarathonPassword = "MARMOT_MARATHON_PASSWORD"
	EnvMarathonToken    = "MARMOT_MARATHON_TOKEN"
)

// ClientFlags are the TLS and authentication flags of one upstream (Mesos or Marathon).
type ClientFlags struct {
	name                   string // "mesos" or "marathon"
	userFlag, passFlag     string // "principal"/"secret" or "user"/"password"
	userEnv, passEnv, tEnv string

	CAFile, User, PassFile, TokenFile string
}

// MesosFlags are --mesos-ca-file, --mesos-principal, --mesos-secret-file and --mesos-token-file.
func MesosFlags() *ClientFlags {
	return &ClientFlags{name: "mesos", userFlag: "principal", passFlag: "secret", userEnv: EnvMesosPrincipal, passEnv: EnvMesosSecret, tEnv: EnvMesosToken}
}

// MarathonFlags are --marathon-ca-file, --marathon-user, --marathon-password-file and --marathon-token-file.
func MarathonFlags() *ClientFlags {
	return &ClientFlags{name: "marathon", userFlag: "user", passFlag: "password", userEnv: EnvMarathonUser, passEnv: EnvMarathonPassword, tEnv: EnvMarathonToken}
}

// Register adds the flags to fs.
func (c *ClientFlags) Register(fs *flag.FlagSet) {
	what := map[string]string{"mesos": "Mesos", "marathon": "Marathon"}[c.name]
	fs.StringVar(&c.CAFile, c.name+"-ca-file", "", "PEM `file` of the CAs that sign "+what+"'s TLS certificates (https URLs); the system's CAs otherwise")
	fs.StringVar(&c.User, c.name+"-"+c.userFlag, "", "HTTP basic authentication "+c.userFlag+" for "+what+" (or $"+c.userEnv+")")
	fs.StringVar(&c.PassFile, c.name+"-"+c.passFlag+"-file", "", "`file` holding the "+c.userFlag+"'s "+c.passFlag+" (or $"+c.passEnv+")")
	fs.StringVar(&c.TokenFile, c.name+"-token-file", "", "`file` holding a DC/OS authentication token, sent as \"Authorization: token=...\" (or $"+c.tEnv+")")
}

// Credentials are what ClientFlags resolve to.
type Credentials struct {
	TLS   *tls.Config // nil: the system's CAs
	User  string
	Pass  string
	Token string
}

// String hides the secrets, should credentials ever reach a log line.
func (c Credentials) String() string {
	return fmt.Sprintf("{user:%q password:%s token:%s tls:%t}", c.User, hidden(c.Pass), hidden(c.Token), c.TLS != nil)
}

// GoString hides the secrets from %#v too.
func (c Credentials) GoString() string { return c.String() }

func hidden(s string) string {
	if s == "" {
		return "none"
	}
	return "set"
}

// Resolve reads the files and the environment, adding every problem to p.
func (c *ClientFlags) Resolve(p *Problems) Credentials {
	var cr Credentials
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		pool := x509.NewCertPool()
		switch {
		case err != nil:
			p.Add("--%s-ca-file: %v", c.name, err)
		case !pool.AppendCertsFromPEM(pem):
			p.Add("--%s-ca-file: %s holds no PEM certificate", c.name, c.CAFile)
		default:
			cr.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
	}
	cr.User = c.User
	if cr.User == "" {
		cr.User = os.Getenv(c.userEnv)
	}
	var err error
	if cr.Pass, err = Secret(c.PassFile, c.passEnv); err != nil {
		p.Add("--%s-%s-file: %v", c.name, c.passFlag, err)
	}
	if cr.Token, err = Secret(c.TokenFile, c.tEnv); err != nil {
		p.Add("--%s-token-file: %v", c.name, err)
	}
	switch {
	case cr.User != "" && cr.Pass == "":
		p.Add("--%s-%s: needs --%s-%s-file or $%s", c.name, c.userFlag, c.name, c.passFlag, c.passEnv)
	case cr.User == "" && cr.Pass != "":
		p.Add("--%s-%s-file: needs --%s-%s (or $%s)", c.name, c.passFlag, c.name, c.userFlag, c.userEnv)
	}
	if cr.User != "" && cr.Token != "" {
		p.Add("--%s-token-file and --%s-%s: use one way to authenticate, not both", c.name, c.name, c.userFlag)
	}
	return cr
}

// HTTPClient is a client whose transport trusts cr's CAs; nil without a CA file (the client's default).
func (cr Credentials) HTTPClient() *http.Client {
	if cr.TLS == nil {
		return nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cr.TLS.Clone()
	return &http.Client{Transport: t}
}
