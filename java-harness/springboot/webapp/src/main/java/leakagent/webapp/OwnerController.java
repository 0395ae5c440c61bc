package leakagent.webapp;

import java.util.List;

import org.springframework.stereotype.Controller;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.ResponseBody;

@Controller
public class OwnerController {

    private final OwnerRepository owners;

    public OwnerController(OwnerRepository owners) {
        this.owners = owners;
    }

    @GetMapping("/owners")
    public String list(@RequestParam(defaultValue = "") String name, Model model) {
        model.addAttribute("owners", owners.findByNameContainingOrderByName(name));
        return "owners";
    }

    @GetMapping("/owners/add")
    @ResponseBody
    public Owner add(@RequestParam String name) {
        return owners.save(new Owner(name));
    }

    @GetMapping("/api/owners")
    @ResponseBody
    public List<Owner> all() {
        return owners.findAll();
    }
}
