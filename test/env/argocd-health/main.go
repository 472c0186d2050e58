// Runs an Argo CD resource health check (Lua) the way Argo CD does: with gopher-lua, the object as
// the global `obj`, and the script's returned table as the result. Reads the script's path from
// argv[1] and a JSON array of objects on stdin; writes a JSON array of {status, message}.
// Used by test/helm-docs.test.ts for the health check in docs/install-eks.md.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

func toLua(L *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []interface{}:
		t := L.NewTable()
		for _, item := range x {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]interface{}:
		t := L.NewTable()
		for k, item := range x {
			t.RawSetString(k, toLua(L, item))
		}
		return t
	}
	panic(fmt.Sprintf("unexpected JSON value %T", v))
}

func main() {
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var objects []interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		panic(err)
	}
	results := []map[string]string{}
	for _, obj := range objects {
		L := lua.NewState(lua.Options{SkipOpenLibs: false})
		L.SetGlobal("obj", toLua(L, obj))
		if err := L.DoString(string(script)); err != nil {
			panic(err)
		}
		out, ok := L.Get(-1).(*lua.LTable)
		if !ok {
			panic("the script did not return a table")
		}
		results = append(results, map[string]string{
			"status":  lua.LVAsString(out.RawGetString("status")),
			"message": lua.LVAsString(out.RawGetString("message")),
		})
		L.Close()
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		panic(err)
	}
}
